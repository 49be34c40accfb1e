"""The log setup that redacts secrets; where the log lives is `StateDir.log_file`."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from greenzone.redact import REDACTOR
from greenzone.statedir import StateDir


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


def setup_logging(state: StateDir, *, debug: bool = False) -> Path | None:
    """Log to `<state dir>/logs/greenzone.log` (mode 0600); returns None when that is impossible.

    Logging must never stop a command: an unwritable state directory is reported by `--debug` only.
    """
    root = logging.getLogger("greenzone")
    root.setLevel(logging.DEBUG)
    root.propagate = False
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    log_path: Path | None = state.log_file
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
            root.debug("cannot write logs under %s; logging to stderr only", state)
    return log_path
