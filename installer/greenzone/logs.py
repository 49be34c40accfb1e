"""Where greenzone keeps its state and logs, and the log setup that redacts secrets.

The state directory defaults to /var/lib/greenzone (root installs); `--state-dir` or
GREENZONE_STATE_DIR override it, and a non-root user without write access falls back to
$XDG_STATE_HOME/greenzone so that read-only commands (validate, preflight) still work.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from greenzone.redact import REDACTOR

DEFAULT_STATE_DIR = Path("/var/lib/greenzone")
LOG_NAME = "greenzone.log"


def _user_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "greenzone"


def state_dir(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    from_env = os.environ.get("GREENZONE_STATE_DIR")
    if from_env:
        return Path(from_env)
    if os.access(DEFAULT_STATE_DIR, os.W_OK) or (
        not DEFAULT_STATE_DIR.exists() and os.access(DEFAULT_STATE_DIR.parent, os.W_OK)
    ):
        return DEFAULT_STATE_DIR
    return _user_state_dir()


class RedactingFilter(logging.Filter):
    """Renders the message once, redacted, so neither the text nor its arguments leak a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = REDACTOR.redact(record.getMessage())
        record.args = None
        if record.exc_text:
            record.exc_text = REDACTOR.redact(record.exc_text)
        return True


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return REDACTOR.redact(super().format(record))


def setup_logging(directory: Path, *, debug: bool = False) -> Path | None:
    """Log to `<state dir>/logs/greenzone.log` (mode 0600); returns None when that is impossible.

    Logging must never stop a command: an unwritable state directory is reported by `--debug` only.
    """
    root = logging.getLogger("greenzone")
    root.setLevel(logging.DEBUG)
    root.propagate = False
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    log_path: Path | None = directory / "logs" / LOG_NAME
    handler: logging.Handler
    try:
        assert log_path is not None
        log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Create the file private before the handler opens it; FileHandler would honour the umask.
        os.close(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        handler = logging.FileHandler(log_path, encoding="utf-8")
    except OSError:
        log_path = None
        handler = logging.NullHandler()
    handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    if debug:
        stderr = logging.StreamHandler()
        stderr.setLevel(logging.DEBUG)
        stderr.setFormatter(_RedactingFormatter("debug: %(name)s: %(message)s"))
        stderr.addFilter(RedactingFilter())
        root.addHandler(stderr)
        if log_path is None:
            root.debug("cannot write logs under %s; logging to stderr only", directory)
    return log_path
