"""What must not leave the site, taken out of every member of a support bundle before it is written.

The rules are the log redactor's (registered secret values, `password: x` pairs) and those a
support bundle needs besides: PEM private keys, bearer and basic credentials, kubeconfig client
keys and tokens, k3s join tokens, JWTs, URLs with a password; optionally IP addresses and the
appliance's host names (`--redact-ips`), each replaced by a stable stand-in (`ip-3`, `host-2`) so
the vendor can still tell which node said what. Prompt and completion text never leaves: engine log
lines that carry a request or answer body are dropped whole. Every rule counts what it masked; the
counts go into the archive's index, the values nowhere.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from collections import Counter
from collections.abc import Iterable

from greenzone.redact import MASK, REDACTOR, is_secret_key

_RULES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "private keys",
        re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(-----END \1PRIVATE KEY-----|\Z)", re.DOTALL),
        f"-----BEGIN PRIVATE KEY-----{MASK}-----END PRIVATE KEY-----",
    ),
    (
        "kubeconfig credentials",
        re.compile(r"(?P<key>(client-key-data|client-certificate-data|token|password)\s*:\s*)(?P<value>\S+)"),
        rf"\g<key>{MASK}",
    ),
    ("authorization headers", re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {MASK}"),
    ("join tokens", re.compile(r"\bK10[0-9a-f]{16,}::[\w.-]+:[\w.-]+"), MASK),
    ("join tokens", re.compile(r"\b[0-9a-z]{6}\.[0-9a-z]{16}\b"), MASK),  # kubeadm-style bootstrap tokens
    ("JSON web tokens", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MASK),
    ("URL passwords", re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), rf"\g<scheme>{MASK}@"),
    (
        "secret options",  # `--api-key sk-...`, `--password=...` on a command line (an engine's args)
        re.compile(
            r"(?i)(?P<flag>--[\w-]*(?:key|token|password|secret)[\w-]*)(?P<sep>[= ]+|\\?\"\s*,\s*\\?\")(?P<value>[^\s\"',\]]+)"
        ),
        rf"\g<flag>\g<sep>{MASK}",
    ),
)

# An engine logs a request's or an answer's text in lines like these (vLLM's request log, Ollama's
# debug log, an OpenAI-style body); the whole line goes, since a prompt can span any of its fields.
_BODY = re.compile(
    r"(?i)(\\?[\"'](messages|prompt|content|input|completion|choices|inputs)\\?[\"']\s*:|\bprompt\s*[:=]|"
    r"Received request|\bprompt_token_ids\b|\bgenerated text\b)"
)
# A network written as a range (pod and service CIDRs, allow-lists: no host bits) is kept, so that
# the answers a bundle carries still validate for `analyze`; a host address with a prefix
# (`inet 10.0.0.5/24`) is replaced and keeps its prefix.
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])(?:/\d{1,2}(?!\d))?")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}(?![\w:.])(?:/\d{1,3}(?!\d))?")
_STAND_IN_V4 = ("192.0.2.", "198.51.100.", "203.0.113.")
"""RFC 5737's documentation ranges: a stand-in is still an address, so answers stay valid."""


class SupportRedactor:
    """One per support bundle; thread-safe, since collectors run at once."""

    def __init__(self, *, secrets: Iterable[str] = (), hide_addresses: bool = False, host_names: Iterable[str] = ()):
        self._secrets = sorted({value for value in secrets if len(value) >= 4}, key=len, reverse=True)
        self.hide_addresses = hide_addresses
        self._host_names = sorted({name for name in host_names if name and name != "localhost"}, key=len, reverse=True)
        self._names = _names_pattern(self._host_names)
        self._stand_ins: dict[str, str] = {}
        self._made: set[str] = set()
        """Stand-ins already given: a second pass over the same text (JSON members) keeps them."""
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def text(self, text: str, *, engine_log: bool = False) -> str:
        """`text` with every secret masked; an engine's log also loses its request and answer lines."""
        found: Counter[str] = Counter()
        if engine_log:
            kept = []
            for line in text.splitlines(keepends=True):
                if _BODY.search(line):
                    found["request and answer text"] += 1
                else:
                    kept.append(line)
            text = "".join(kept)
        for value in self._secrets:
            if value in text:
                found["known secrets"] += text.count(value)
                text = text.replace(value, MASK)
        before = text
        text = REDACTOR.redact(text)  # values registered in this process, and `secret: value` pairs
        if text != before:
            found["secret key-value pairs"] += max(1, text.count(MASK) - before.count(MASK))
        for name, pattern, replacement in _RULES:
            text, masked = pattern.subn(replacement, text)
            found[name] += masked
        if self.hide_addresses:
            text = self._addresses(text, found)
        with self._lock:
            self.counts.update({name: count for name, count in found.items() if count})
        return text

    def _addresses(self, text: str, found: Counter[str]) -> str:
        def address(match: re.Match[str]) -> str:
            value, _, prefix = match.group(0).partition("/")
            try:
                parsed = ipaddress.ip_address(value)
            except ValueError:
                return match.group(0)
            if parsed.is_loopback or parsed.is_unspecified or value in self._made:
                return match.group(0)  # 127.0.0.1 says nothing about the site; a stand-in is one already
            if prefix:
                try:
                    if ipaddress.ip_network(match.group(0), strict=True).num_addresses > 1:
                        return match.group(0)  # a range, not a host (a /32 is one host)
                except ValueError:
                    pass
            found["IP addresses"] += 1
            return self._stand_in(parsed.version, value.lower()) + (f"/{prefix}" if prefix else "")

        text = _IPV6.sub(address, _IPV4.sub(address, text))
        if self._names is not None:
            text, count = self._names.subn(lambda match: self._stand_in(0, match.group(0).lower()), text)
            found["host names"] += count
        return text

    def _stand_in(self, kind: int, value: str) -> str:
        """The same stand-in for the same value everywhere in the bundle: `192.0.2.N` for IPv4,
        `2001:db8::N` for IPv6 (documentation ranges), `host-N` for names."""
        with self._lock:
            if value not in self._stand_ins:
                number = sum(1 for known in self._stand_ins.values() if _kind(known) == kind) + 1
                if kind == 4:
                    block, rest = divmod(number - 1, 254)
                    self._stand_ins[value] = f"{_STAND_IN_V4[block % 3]}{rest + 1}"
                elif kind == 6:
                    self._stand_ins[value] = f"2001:db8::{number:x}"
                else:
                    self._stand_ins[value] = f"host-{number}"
                self._made.add(self._stand_ins[value])
            return self._stand_ins[value]

    def add_host_names(self, names: Iterable[str]) -> None:
        """Names learnt during collection (the cluster's Node names) are hidden from then on."""
        with self._lock:
            known = {*self._host_names, *(name for name in names if name and name != "localhost")}
            self._host_names = sorted(known, key=len, reverse=True)
            self._names = _names_pattern(self._host_names)

    def name(self, member: str) -> str:
        """A member's path inside the archive: with addresses hidden, its node's name and address too."""
        return self._addresses(member, Counter()) if self.hide_addresses else member


def _kind(stand_in: str) -> int:
    return 0 if stand_in.startswith("host-") else 6 if ":" in stand_in else 4


def _names_pattern(names: list[str]) -> re.Pattern[str] | None:
    if not names:
        return None
    alternatives = "|".join(re.escape(name) for name in names)
    return re.compile(rf"(?<![\w.-])(?:{alternatives})(?![\w-])", re.IGNORECASE)


def secret_values(document: object, *, every_value: bool = False) -> list[str]:
    """The strings under secret-looking keys of a parsed YAML/JSON document (a kubeconfig's client
    key and token, a values file's passwords); with `every_value`, every string in it (the
    credentials file, where a user name is as much the site's business as the password)."""
    found: list[str] = []

    def walk(node: object, secret: bool) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, secret or is_secret_key(str(key)) or str(key) in _KUBECONFIG_SECRETS)
        elif isinstance(node, list):
            for item in node:
                walk(item, secret)
        elif (secret or every_value) and isinstance(node, str | int) and not isinstance(node, bool):
            found.extend([str(node)] if len(str(node)) >= 4 else [])

    walk(document, False)
    return found


_KUBECONFIG_SECRETS = frozenset({"client-key-data", "client-certificate-data", "token", "password"})
