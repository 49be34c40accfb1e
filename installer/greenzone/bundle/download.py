"""Resumable, verified downloads for `bundle build` (vendor side, connected machine).

A file is fetched into `<dest>.part`; after an interruption the next run asks for the rest with an
HTTP Range request. Only when the whole file hashes to the lock's sha256 is it renamed into place, so
a bundle directory never holds a partial or wrong artifact under its final name, and a complete,
correct file is never downloaded again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

from greenzone import peers
from greenzone.bundle.hashing import sha256_file
from greenzone.errors import EnvironmentProblem, InputError
from greenzone.parallel import STOP, Stopped
from greenzone.redact import REDACTOR

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


class DownloadError(EnvironmentProblem):
    """The upstream could not deliver the file after every retry."""


class ChecksumMismatch(InputError):
    """The upstream delivered a different file than the lock pins: never written under its name."""


@dataclass(frozen=True)
class Fetched:
    path: Path
    size: int
    reused: bool  # already complete and correct: nothing was downloaded
    resumed_from: int = 0
    sha256: str | None = None  # what every byte hashed to, when this call read them all; None when trusted by size


def _hash_prefix(path: Path) -> tuple[hashlib._Hash, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest, size


def _expected_total(headers: Message, offset: int) -> int | None:
    """The full size of the file, from Content-Range (206) or Content-Length (200)."""
    content_range = headers.get("Content-Range", "")
    if "/" in content_range and not content_range.endswith("/*"):
        return int(content_range.rsplit("/", 1)[1])
    length = headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _plain_request(url: str, offset: int) -> urllib.request.Request:
    request = urllib.request.Request(url, headers={"User-Agent": "greenzone-bundle-build"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    token = os.environ.get("HF_TOKEN")
    if token and urllib.parse.urlsplit(url).hostname == "huggingface.co":
        # Gated models (Gemma, Llama) need the vendor's token; unredirected, so the CDN never sees it.
        REDACTOR.register(token)
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    return request


def fetch(
    url: str,
    dest: Path,
    sha256: str,
    *,
    retries: int = 4,
    timeout: float = peers.REGISTRY_CALL,
    backoff: float = 1.0,
    progress: Callable[[int], None] | None = None,
    request_for: Callable[[int], urllib.request.Request] | None = None,
    opener: Callable[..., Any] = urllib.request.urlopen,
    reauthenticate: Callable[[], None] | None = None,
    known_size: int | None = None,
) -> Fetched:
    """Download `url` to `dest` unless `dest` already holds exactly `sha256`.

    `request_for(offset)` builds each attempt's request (a registry adds its bearer token there);
    `reauthenticate` is called once on HTTP 401, for tokens that expire during long downloads.
    `known_size`: `dest` is named by its content (a layout's blob) and a file only ever reaches that
    name after this function checked it, so one of that size is taken as it is, without reading it
    again; `seal` hashes it for the manifest and refuses a name its bytes do not match.
    """
    request_for = request_for or (lambda offset: _plain_request(url, offset))
    if known_size is not None and dest.is_file() and dest.stat().st_size == known_size:
        if progress:
            progress(known_size)
        return Fetched(dest, known_size, reused=True)
    if dest.is_file():
        existing = sha256_file(dest)
        if existing.sha256 == sha256:
            if progress:
                progress(existing.size)
            return Fetched(dest, existing.size, reused=True, sha256=sha256)
        log.warning("%s does not match the lock; downloading it again", dest)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    # The digest and offset follow every byte written to the part file, across retries.
    digest, offset = _hash_prefix(part) if part.exists() else (hashlib.sha256(), 0)
    first_offset = offset
    if progress and offset:
        progress(offset)
    attempt = 0
    while True:
        request = request_for(offset)
        try:
            with opener(request, timeout=timeout) as response:
                if offset and response.status != 206:
                    # The server ignored the Range: start over rather than append a second copy.
                    digest, offset = hashlib.sha256(), 0
                    part.unlink(missing_ok=True)
                total = _expected_total(response.headers, offset)
                with part.open("ab") as out:
                    while chunk := response.read(CHUNK):
                        if STOP.is_set():  # interrupted: the part file stays for the next run to resume
                            raise Stopped("interrupted")
                        out.write(chunk)
                        digest.update(chunk)
                        offset += len(chunk)
                        if progress:
                            progress(len(chunk))
            if total is None or offset >= total:
                break
            reason = f"connection closed after {offset} of {total} bytes"
        except urllib.error.HTTPError as error:
            if error.code == 416 and offset:  # asked past the end: the part file is already whole
                break
            if error.code == 401 and reauthenticate is not None:
                reauthenticate()
                reauthenticate = None
                continue
            if error.code < 500 and error.code != 429:
                raise DownloadError(
                    f"{url} answered HTTP {error.code}", hint="check the URL in the lock file"
                ) from None
            reason = f"HTTP {error.code}"
        except peers.NETWORK_ERRORS as error:
            reason = f"no answer within {timeout:g} s" if peers.is_timeout(error) else peers.reason(error)
        attempt += 1
        if attempt > retries:
            raise DownloadError(
                f"{url} failed {attempt} times ({reason}); {offset} bytes kept in {part}",
                hint="run the build again: it resumes where it stopped",
            )
        log.info("retrying %s after %s (attempt %d)", url, reason, attempt)
        time.sleep(backoff * 2 ** (attempt - 1))
    got = digest.hexdigest()
    if got != sha256:
        part.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"{url} delivered sha256 {got}, the lock pins {sha256}",
            hint="the upstream file changed or was tampered with; check it, then update the lock (`bundle lock --update`)",
        )
    part.replace(dest)
    return Fetched(dest, offset, reused=False, resumed_from=first_offset, sha256=got)


def hash_url(
    url: str, *, timeout: float = peers.REGISTRY_CALL, progress: Callable[[int], None] | None = None
) -> tuple[str, int]:
    """sha256 and size of what `url` serves now, streamed and not kept: how `bundle lock --update` pins a file."""
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(_plain_request(url, 0), timeout=timeout) as response:
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if progress:
                    progress(len(chunk))
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url} answered HTTP {error.code}", hint="check the URL in the lock file") from None
    except peers.NETWORK_ERRORS as error:
        if peers.is_timeout(error):
            raise peers.silent(url, timeout, "download", "check the server, or try again later") from None
        raise DownloadError(
            f"cannot download {url}: {peers.reason(error)}", hint="check the network and the URL"
        ) from None
    return digest.hexdigest(), size
