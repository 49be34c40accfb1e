"""Secrets never reach the log file, whether registered or merely shaped like `password: x`."""

from __future__ import annotations

import logging
from pathlib import Path

from greenzone.logs import setup_logging
from greenzone.redact import MASK, REDACTOR, Redactor, is_secret_key
from greenzone.statedir import StateDir


def test_secret_keys() -> None:
    assert is_secret_key("admin_password") and is_secret_key("join-token") and is_secret_key("api_key")
    assert not is_secret_key("admin_password_file") and not is_secret_key("public_api_price_per_1k_tokens")
    assert not is_secret_key("tokens_per_second") and not is_secret_key("key_file")
    # Helm values and Kubernetes fields are camelCase: the words are found all the same.
    assert is_secret_key("harborAdminPassword") and is_secret_key("joinToken") and is_secret_key("apiKey")
    assert not is_secret_key("existingSecretFile") and not is_secret_key("tokensPerSecond")


def test_redactor_masks_registered_values_and_secret_pairs() -> None:
    redactor = Redactor()
    redactor.register("s3cr3t-value")
    text = redactor.redact('token=abc123 user=root "password": "hunter22" value s3cr3t-value here')
    assert "abc123" not in text and "hunter22" not in text and "s3cr3t-value" not in text
    assert "user=root" in text and text.count(MASK) == 3


def test_log_file_never_holds_a_secret(tmp_path: Path) -> None:
    path = setup_logging(StateDir(tmp_path))
    assert path is not None
    REDACTOR.register("Harbor-Admin-Pw-42")
    log = logging.getLogger("greenzone.test")
    log.info("logging in with %s", "Harbor-Admin-Pw-42")
    log.info("k3s join with K3S_TOKEN=K10abcdef::server:0123")
    try:
        raise RuntimeError("helm failed: --set harborAdminPassword=Harbor-Admin-Pw-42")
    except RuntimeError:
        log.exception("install step failed")
    for handler in logging.getLogger("greenzone").handlers:
        handler.flush()
    text = path.read_text()
    assert "Harbor-Admin-Pw-42" not in text and "K10abcdef" not in text
    assert "logging in with" in text and "install step failed" in text
