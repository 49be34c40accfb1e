"""Keeps secrets out of logs, events and reports.

Two layers: values registered at run time (a Harbor password read from its file, a join token) are
replaced wherever they appear, and `key: value` / `key=value` pairs whose key looks secret are masked
even when the value was never registered (e.g. inside a command line an external tool echoed).
"""

from __future__ import annotations

import itertools
import re
import threading

MASK = "********"

SECRET_KEY_WORDS = ("password", "passwd", "secret", "token", "api_key", "apikey", "private_key")

_PAIR = re.compile(
    r"(?P<key>[\w.-]*(?:" + "|".join(SECRET_KEY_WORDS) + r")[\w.-]*)"
    r"(?P<sep>\"?\s*[:=]\s*\"?)"
    r"(?P<value>[^\s\",}]+)",
    re.IGNORECASE,
)

# Keys that name where a secret lives, not the secret itself: masking them hides useful facts.
_REFERENCE_SUFFIXES = ("_file", "_env", "_path", "-file", "-env")


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SECRET_WORDS = frozenset({"password", "passwd", "secret", "token", "apikey", "passphrase"})
_SECRET_PAIRS = frozenset({("api", "key"), ("private", "key"), ("join", "token"), ("access", "key")})


def is_secret_key(key: str) -> bool:
    """True for `admin_password`, `join-token`, `api_key` and Helm's `harborAdminPassword`; false for
    `tokens_per_s` or `password_file`."""
    lowered = key.lower()
    if lowered.endswith(_REFERENCE_SUFFIXES) or re.search(r"[a-z0-9](File|Env|Path)$", key):
        return False
    words = [word for word in re.split(r"[^a-z0-9]+", _CAMEL.sub("_", key).lower()) if word]
    if any(word in _SECRET_WORDS for word in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


def may_hold_secret(key: str) -> bool:
    """A secret's key, or a key that names where a secret is (`admin_password_env`): a value typed
    there by mistake is often the secret itself, so it is never echoed back either."""
    lowered = key.lower()
    for suffix in _REFERENCE_SUFFIXES:
        lowered = lowered.removesuffix(suffix)
    return is_secret_key(key) or is_secret_key(lowered)


_VARIABLE_NAME = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$|^[A-Z]{2,12}$")


def shown_reference(value: str, key: str) -> str:
    """How a message may name what `key` (a secret's `_env` or `_file` key) holds: itself when it
    looks like what belongs there (`HARBOR_ADMIN_PASSWORD`, a path with a `/`), else a description,
    because a password typed there by mistake (`Tr0ub4dor_3`) must not be printed back."""
    if key.endswith("_env") and _VARIABLE_NAME.match(value):
        return value
    if key.endswith("_file") and "/" in value and not any(char.isspace() for char in value):
        return value
    return f"the value of {key} (hidden: if you typed the secret itself there, name a file or variable that holds it)"


class Redactor:
    """Thread-safe registry of secret values; `redact()` is applied to every log record."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def register(self, value: str) -> None:
        # Very short values would mask ordinary words; a secret that short is refused elsewhere.
        if len(value) >= 4:
            with self._lock:
                self._values.add(value)

    def redact(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            text = text.replace(value, MASK)

        def mask_pair(match: re.Match[str]) -> str:
            if not is_secret_key(match.group("key")):
                return match.group(0)
            return f"{match.group('key')}{match.group('sep')}{MASK}"

        return _PAIR.sub(mask_pair, text)


#: The process-wide redactor used by the log handlers.
REDACTOR = Redactor()
