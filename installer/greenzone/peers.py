"""How long greenzone waits for the machines it talks to, and how it says that one did not answer.

A site's registry or API server can accept a connection and then say nothing (a wedged process, a
firewall that drops replies, a half-dead load balancer). Every call to a peer therefore carries a
timeout from here, and a peer that stays silent ends the command with exit 4 and its name, within a
bound the README's exit-code section documents, instead of a terminal that prints nothing for hours.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import ssl
import urllib.error

from greenzone.errors import EnvironmentProblem, InputError

ENV_VAR = "GREENZONE_PEER_TIMEOUT"


MAX_CALL = 3600.0


def _given() -> float | None:
    """`$GREENZONE_PEER_TIMEOUT` as seconds, None when unset; ValueError when not 0 < N <= 3600."""
    text = os.environ.get(ENV_VAR, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{ENV_VAR}={text!r} is not a number of seconds") from None
    if not 0 < value <= MAX_CALL:  # also refuses nan and inf
        raise ValueError(f"{ENV_VAR}={text} is outside 0 < seconds <= {MAX_CALL:g}")
    return value


def check_environment() -> None:
    """Called by the CLI before any command, so that a mistyped value is refused, not ignored."""
    try:
        _given()
    except ValueError as error:
        raise InputError(str(error), hint=f"write a number of seconds, e.g. {ENV_VAR}=120, or unset it") from None


def _call_timeout(default: float) -> float:
    """`$GREENZONE_PEER_TIMEOUT` seconds when set (a slow satellite link wants more, a test less)."""
    try:
        given = _given()
    except ValueError:
        return default  # check_environment has refused it already when the CLI runs
    return default if given is None else given


REGISTRY_CALL = _call_timeout(30.0)
"""One registry request (connect, then each read of the answer): a registry that holds a blob upload
for longer without a byte is wedged, not slow."""
API_CALL = _call_timeout(15.0)
"""One Kubernetes API request."""
HELM_REGISTRY = 300.0
"""A whole `helm push` of one chart (charts are kilobytes; helm has no timeout flag of its own)."""
HELM_GRACE = 120.0
"""What a `helm upgrade --install --wait --timeout T` may take beyond T: helm's own calls to the API
server have no timeout, so a silent API server would otherwise hold it forever."""


class PeerSilent(EnvironmentProblem):
    """A peer accepted the connection (or did not refuse it) but did not answer in time."""


def is_timeout(error: BaseException) -> bool:
    reason = getattr(error, "reason", error)
    return isinstance(reason, (TimeoutError, socket.timeout)) or "timed out" in str(reason)


def silent(peer: str, seconds: float, doing: str, hint: str) -> PeerSilent:
    return PeerSilent(f"{peer} did not answer within {seconds:g} s ({doing})", hint=hint)


NETWORK_ERRORS = (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException, ssl.SSLError)
"""What a urllib call raises when the peer (not the request) is the problem."""


def reason(error: BaseException) -> str:
    """The cause in a few words, without a Python class name where the OS gave a sentence (urllib3
    wraps "[Errno 111] Connection refused" three objects deep)."""
    cause = getattr(error, "reason", error)
    text = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
    found = re.search(r"\[Errno -?\d+\]\s*([^'\")]+)", text)
    return found.group(1).strip() if found else text


def duration_seconds(text: str) -> float:
    """Helm's `--timeout` duration (`10m`, `90s`, `1h30m`, `300`) in seconds; ValueError otherwise."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)?", text.strip())
    if not parts or "".join(f"{n}{u}" for n, u in parts) != text.strip():
        raise ValueError(f"{text!r} is not a duration; write e.g. 10m, 90s or 1h30m")
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "": 1.0}
    return sum(float(number) * scale[unit] for number, unit in parts)
