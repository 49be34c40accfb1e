"""A small OCI distribution client: what `bundle build` pulls with and what install/sync push with.

Standard library HTTP only, because the same code runs on the air-gapped appliance where nothing
else may be installed. Supports anonymous, basic and bearer-token auth (the token dance Docker Hub,
Harbor and ECR's proxy use), a custom CA, and plain HTTP for registries on loopback.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.client
import json
import logging
import re
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from greenzone import peers
from greenzone.bundle.oci import DOCKER_MANIFEST, INDEX_TYPES, MANIFEST, Descriptor, Layout
from greenzone.errors import EnvironmentProblem, InputError
from greenzone.parallel import Stoppable, map_all
from greenzone.redact import REDACTOR

log = logging.getLogger(__name__)
ACCEPT_MANIFESTS = ", ".join([MANIFEST, *INDEX_TYPES, DOCKER_MANIFEST])
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')

# Blob uploads go in chunks (the distribution spec's PATCH with Content-Range), each sized to take
# about CHUNK_SECONDS at the rate the previous one achieved. A proxy in front of the registry may cut
# any request that lasts longer than its deadline, body included: Traefik v3, which k3s puts in
# front of Harbor, reads a request for at most 60 s by default (entryPoints' respondingTimeouts,
# readTimeout; goharbor/harbor#18484 shows pushes of big layers cancelled after 60 s). A sixth of
# that leaves room for a link whose rate halves mid-push.
CHUNK_SECONDS = 10.0
# The first chunk, before any rate is known; blobs no bigger go up in one PUT.
FIRST_CHUNK = 8 << 20
# Object-storage back ends (S3 multipart, and registries built on it) refuse parts under 5 MiB
# except the last; a registry that needs more says so in OCI-Chunk-Min-Length.
MIN_CHUNK = 5 << 20
MAX_CHUNK = 512 << 20
# A chunk cut by a proxy is sent again, smaller (each retry divides size and time by 4).
CHUNK_RETRIES = 4
# What a proxy answers when it cut a request, and what a registry or proxy answers to a body over
# its size limit (413; GHCR answers 416 "the request body is too large" past 4 MiB, ocx-sh/ocx#237;
# a proxy in front may turn either into 502): a smaller request can pass where a bigger one did not.
_CUT_STATUSES = (408, 413, 416, 499, 500, 502, 503, 504)


class RegistryError(EnvironmentProblem):
    """The registry refused or failed a request; the message names the request."""


class RegistryUnreachable(RegistryError):
    """The registry could not be reached or did not answer in time: no request to it can succeed, so
    callers that treat a refused request as "not there" must not treat this one so."""

    def __init__(self, message: str, *, hint: str, cause: BaseException | None = None) -> None:
        super().__init__(message, hint=hint)
        self.cause = getattr(cause, "reason", cause)

    @property
    def cut(self) -> bool:
        """Dropped mid-request, the way a proxy ends a request past its deadline; a refused or
        silent connection is not a cut, and sending again would only wait again."""
        return isinstance(
            self.cause,
            (
                ConnectionResetError,
                BrokenPipeError,
                ConnectionAbortedError,
                http.client.IncompleteRead,
                ssl.SSLEOFError,  # a TLS proxy that drops the connection mid-request
                ssl.SSLZeroReturnError,
            ),
        )


class RegistryRefused(RegistryError):
    """The registry (or a proxy before it) answered with an HTTP error; `status` says which, so an
    upload can tell a cut request from a refused one."""

    def __init__(self, message: str, *, hint: str, status: int) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class _Chunk:
    """`length` bytes of a file from `start`: one PATCH body, that the auth retry can send again.
    Reads go through `Stoppable`, so an interrupt stops the upload between blocks."""

    def __init__(self, handle: IO[bytes], start: int, length: int) -> None:
        self._source = Stoppable(handle)
        self._start = start
        self.length = length
        self._left = length
        self._source.seek(start)

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        data = self._source.read(self._left if size < 0 else min(size, self._left))
        self._left -= len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        self._source.seek(self._start + offset)
        self._left = self.length - offset
        return offset


def _cut(error: RegistryError) -> bool:
    """A request the proxy or registry cut, where a smaller one may pass."""
    if isinstance(error, RegistryUnreachable):
        return error.cut
    return isinstance(error, RegistryRefused) and error.status in _CUT_STATUSES


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def basic_auth(self) -> str:
        """The `Authorization` header value for HTTP basic auth."""
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


class Registry:
    def __init__(
        self,
        url: str,
        *,
        credentials: Credentials | None = None,
        ca_file: Path | None = None,
        timeout: float = peers.REGISTRY_CALL,
        chunk_seconds: float = CHUNK_SECONDS,
        first_chunk: int = FIRST_CHUNK,
        min_chunk: int = MIN_CHUNK,
    ) -> None:
        if "://" not in url:
            raise InputError(
                f"registry URL {url!r} has no scheme",
                hint="write https://HOST[:PORT] (or http:// for a registry on loopback)",
            )
        self.base = url.rstrip("/")
        self.credentials = credentials
        if credentials:
            REDACTOR.register(credentials.password)
        self.timeout = timeout
        self.chunk_seconds = chunk_seconds
        self.first_chunk = first_chunk
        self.min_chunk = min_chunk
        self.max_chunk = MAX_CHUNK
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    # --- HTTP with the auth dance -------------------------------------------------------------

    def _url(self, path: str) -> str:
        return path if "://" in path else f"{self.base}{path}"

    def _auth_header(self, scope: str) -> dict[str, str]:
        with self._lock:
            token = self._tokens.get(scope)
        if token:
            return {"Authorization": f"Bearer {token}"}
        if self.credentials and self._tokens.get("__basic__"):
            return {"Authorization": self.credentials.basic_auth()}
        return {}

    def _authorize(self, request: urllib.request.Request, scope: str) -> None:
        # Unredirected: blob downloads are often redirected to object storage (S3, a CDN), which
        # must not receive the registry's credentials and rejects a second auth mechanism.
        for key, value in self._auth_header(scope).items():
            request.add_unredirected_header(key, value)

    def _authenticate(self, challenge: str, scope: str) -> None:
        kind, _, params = challenge.partition(" ")
        if kind.lower() == "basic":
            if not self.credentials:
                raise RegistryError(
                    f"{self.base} needs a user name and password", hint="give the registry's credentials file"
                )
            with self._lock:
                self._tokens["__basic__"] = "yes"
            return
        values = dict(_CHALLENGE.findall(params))
        query = {"service": values.get("service", "")}
        if values.get("scope") or scope:
            query["scope"] = values.get("scope") or scope
        request = urllib.request.Request(values["realm"] + "?" + urllib.parse.urlencode(query))
        if self.credentials:
            raw = f"{self.credentials.username}:{self.credentials.password}".encode()
            request.add_header("Authorization", "Basic " + base64.b64encode(raw).decode())
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise RegistryError(
                f"{self.base} refused a token for {scope or 'its catalog'} (HTTP {error.code})",
                hint="check the registry credentials and that the user may push to that project",
            ) from None
        except peers.NETWORK_ERRORS as error:
            raise self._unreachable(error, f"token from {values['realm']}") from None
        except ValueError:
            raise RegistryError(
                f"{values['realm']} answered the token request with something that is not JSON",
                hint="check the registry's token service",
            ) from None
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(f"{self.base} answered its token request without a token", hint="check the registry")
        REDACTOR.register(token)
        with self._lock:
            self._tokens[scope] = token

    def request(
        self,
        method: str,
        path: str,
        *,
        scope: str = "",
        data: bytes | IO[bytes] | Stoppable | _Chunk | None = None,
        headers: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> tuple[int, Any, bytes]:
        for attempt in range(2):
            request = urllib.request.Request(self._url(path), data=data, method=method)
            for key, value in (headers or {}).items():
                request.add_header(key, value)
            self._authorize(request, scope)
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    return response.status, response.headers, response.read() if method != "HEAD" else b""
            except urllib.error.HTTPError as error:
                if error.code == 401 and attempt == 0 and error.headers.get("WWW-Authenticate"):
                    self._authenticate(error.headers["WWW-Authenticate"], scope)
                    if hasattr(data, "seek"):
                        data.seek(0)  # type: ignore[union-attr]
                    continue
                if error.code == 401:
                    who = f"user {self.credentials.username!r}" if self.credentials else "anonymous access"
                    raise RegistryError(
                        f"{self.base} refused {who} for {method} {path.split('?')[0]} (HTTP 401)",
                        hint="check the user name and password, and that the user may use that repository",
                    ) from None
                if error.code in expect:
                    return error.code, error.headers, b""
                detail = error.read()[:300].decode("utf-8", "replace") if method != "HEAD" else ""
                raise RegistryRefused(
                    f"{method} {self._url(path).split('?')[0]} failed: HTTP {error.code} {detail}".strip(),
                    hint="check the registry's logs, disk space and the user's permissions",
                    status=error.code,
                ) from None
            except peers.NETWORK_ERRORS as error:
                raise self._unreachable(error, f"{method} {path.split('?')[0]}") from None
        raise RegistryError(f"{self.base} keeps refusing the credentials", hint="check the user name and password")

    def _unreachable(self, error: BaseException, doing: str) -> RegistryUnreachable:
        hint = "check the registry address, that it runs, and the CA file for https"
        if peers.is_timeout(error):
            return RegistryUnreachable(
                f"registry {self.base} did not answer within {self.timeout:g} s ({doing})",
                hint="the registry accepted the connection but stays silent; check that it is not overloaded "
                "or wedged (its logs, its disk), then run the command again",
                cause=error,
            )
        return RegistryUnreachable(f"cannot reach registry {self.base}: {peers.reason(error)}", hint=hint, cause=error)

    # --- distribution API -----------------------------------------------------------------------

    def has_blob(self, repository: str, digest: str) -> bool:
        scope = f"repository:{repository}:pull"
        status, _, _ = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", scope=scope, expect=(200, 404))
        return status == 200

    def _head_manifest(self, repository: str, reference: str) -> tuple[int, Any]:
        scope = f"repository:{repository}:pull"
        path = f"/v2/{repository}/manifests/{reference}"
        headers = {"Accept": ACCEPT_MANIFESTS}
        status, response_headers, _ = self.request("HEAD", path, scope=scope, headers=headers, expect=(200, 404))
        return status, response_headers

    def has_manifest(self, repository: str, digest: str) -> bool:
        return self._head_manifest(repository, digest)[0] == 200

    def manifest_digest(self, repository: str, reference: str) -> str:
        """The digest a tag (or digest) resolves to; '' when the registry has no such manifest."""
        status, headers = self._head_manifest(repository, reference)
        return str(headers.get("Docker-Content-Digest", "")) if status == 200 else ""

    def blob_request(self, repository: str, digest: str, offset: int = 0) -> urllib.request.Request:
        """A GET of one blob from `offset` on, carrying the current credentials; for `download.fetch`."""
        request = urllib.request.Request(f"{self.base}/v2/{repository}/blobs/{digest}")
        request.add_header("User-Agent", "greenzone-bundle-build")
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        self._authorize(request, f"repository:{repository}:pull")
        return request

    def open(self, request: urllib.request.Request, timeout: float) -> Any:
        return self._opener.open(request, timeout=timeout)

    def renew(self, repository: str, digest: str) -> None:
        """Forget a token that expired mid-download and go through the auth dance again."""
        scope = f"repository:{repository}:pull"
        with self._lock:
            self._tokens.pop(scope, None)
        self.has_blob(repository, digest)

    def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        """Cross-repository mount: the registry links a blob it holds instead of receiving it again."""
        # Its own token scope: a mount also needs pull on the source; a token cached for plain
        # uploads to `repository` lacks that, and threads must not swap one for the other.
        scope = f"repository:{repository}:pull,push repository:{source}:pull"
        query = urllib.parse.urlencode({"mount": digest, "from": source})
        status, headers, _ = self.request(
            "POST", f"/v2/{repository}/blobs/uploads/?{query}", scope=scope, data=b"", expect=(201, 202)
        )
        if status == 202 and headers.get("Location"):  # not mounted: cancel the upload session it opened
            location = urllib.parse.urljoin(self.base + "/", headers["Location"])
            with contextlib.suppress(RegistryError):
                self.request("DELETE", location, scope=scope, expect=(204, 404, 405))
        return status == 201

    def push_blob(
        self, repository: str, descriptor: Descriptor, path: Path, progress: Callable[[int], None] | None = None
    ) -> None:
        """Upload one blob so that no request lasts long enough for a proxy's deadline to cut it.

        A cut (the connection dropped, or a 408/413/416/5xx) starts the blob again in a fresh upload
        session with chunks a quarter the size and time: a cut request may have left part of its
        body in the old session, which the distribution registry then refuses to resume. What a
        cut taught (a proxy's deadline, a body-size limit) is kept for the next blobs. `progress`
        hears each byte once, however many tries it takes.
        """
        scope = f"repository:{repository}:pull,push"
        reported = [0, 0]  # bytes this try sent, bytes already reported

        def counted(size: int) -> None:
            reported[0] += size
            if progress and reported[0] > reported[1]:
                progress(reported[0] - reported[1])
                reported[1] = reported[0]

        for attempt in range(CHUNK_RETRIES + 1):
            reported[0] = 0
            first = self.first_chunk
            try:
                self._upload(repository, scope, descriptor, path, counted)
                return
            except RegistryError as error:
                if not _cut(error):
                    raise
                if self._arrived(repository, descriptor.digest):
                    return  # only the answer to the last request was lost: the registry has the blob
                if attempt == CHUNK_RETRIES:
                    raise RegistryError(
                        f"{self.base} kept cutting the upload of {descriptor.digest[:19]} to {repository} "
                        f"({CHUNK_RETRIES + 1} tries, the last in {max(first, 1 << 10) >> 10} KiB requests): {error}",
                        hint="check the registry's logs and disk, and any proxy in front of it (its request "
                        "timeout and body size limit), then run the command again; blobs already there are kept",
                    ) from None
                log.info("upload of %s to %s cut (%s); again with smaller chunks", descriptor.digest, repository, error)
                with self._lock:  # a token may have expired during a long blob; the next try asks anew
                    self._tokens.pop(scope, None)

    def _learn(self, cut: int, seconds: float) -> None:
        """From now on, requests at most half the one that was cut (whatever cut it: a deadline, a
        body-size limit) and chunks aimed at a quarter of the time; the object-storage part size
        (MIN_CHUNK) gives way only when that limit falls below it."""
        ceiling = max(cut // 2, 64 << 10)
        self.max_chunk = min(self.max_chunk, ceiling)
        self.first_chunk = min(self.first_chunk, ceiling)
        self.min_chunk = min(self.min_chunk, ceiling)
        self.chunk_seconds = min(self.chunk_seconds, seconds / 4)

    def _arrived(self, repository: str, digest: str) -> bool:
        try:
            return self.has_blob(repository, digest)
        except RegistryError:
            return False

    def _start_upload(self, repository: str, scope: str) -> tuple[str, int]:
        _, headers, _ = self.request("POST", f"/v2/{repository}/blobs/uploads/", scope=scope, data=b"", expect=(202,))
        minimum = str(headers.get("OCI-Chunk-Min-Length", "") or "")
        return self._absolute(headers["Location"]), int(minimum) if minimum.isdigit() else 0

    def _absolute(self, location: str) -> str:
        return urllib.parse.urljoin(self.base + "/", location)

    def _upload(
        self, repository: str, scope: str, descriptor: Descriptor, path: Path, progress: Callable[[int], None]
    ) -> None:
        """POST, PATCH each chunk but the last, then PUT the last one with the digest. The offset
        is counted here, not read back from the registry's `Range`: ECR stops advancing that header
        after the second chunk though it keeps the bytes (aws/containers-roadmap#2831), and some
        registries refuse an empty final PUT (cirruslabs/tart#159). A cut request teaches the
        client (`_learn`) before the error goes up."""
        location, minimum = self._start_upload(repository, scope)
        # Read once per try: another thread's cut may lower them meanwhile, and `_learn` must
        # divide this try's time, not one another thread already divided.
        seconds = self.chunk_seconds
        offset, length, sending = 0, self.first_chunk, 0
        try:
            with path.open("rb") as handle:
                while True:
                    length = max(min(max(length, self.min_chunk), self.max_chunk), minimum)
                    sending = min(length, descriptor.size - offset)
                    if descriptor.size - offset <= length:
                        self._finish(location, scope, descriptor, _Chunk(handle, offset, descriptor.size - offset))
                        progress(descriptor.size - offset)
                        return
                    started = time.monotonic()
                    _, headers, _ = self.request(
                        "PATCH",
                        location,
                        scope=scope,
                        data=_Chunk(handle, offset, length),
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Length": str(length),
                            "Content-Range": f"{offset}-{offset + length - 1}",
                        },
                        expect=(202,),
                    )
                    elapsed = max(time.monotonic() - started, 1e-3)
                    location = self._absolute(headers.get("Location") or location)
                    progress(length)
                    offset += length
                    # Aim the next chunk at `seconds` at this chunk's rate, growing at most fourfold
                    # so one fast chunk (a cache, a burst) does not make the next one too long.
                    length = min(int(length / elapsed * seconds), length * 4, MAX_CHUNK)
        except RegistryError as error:
            if _cut(error):
                self._learn(sending, seconds)
            with contextlib.suppress(RegistryError):  # free what the registry holds for a dead session
                self.request("DELETE", location, scope=scope, expect=(204, 404, 405))
            raise

    def _finish(self, location: str, scope: str, descriptor: Descriptor, body: _Chunk) -> None:
        separator = "&" if "?" in location else "?"
        self.request(
            "PUT",
            f"{location}{separator}digest={urllib.parse.quote(descriptor.digest)}",
            scope=scope,
            data=body,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(body.length)},
            expect=(201,),
        )

    def put_manifest(self, repository: str, reference: str, media_type: str, body: bytes) -> str:
        scope = f"repository:{repository}:pull,push"
        _, headers, _ = self.request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            scope=scope,
            data=body,
            headers={"Content-Type": media_type},
            expect=(201,),
        )
        return str(headers.get("Docker-Content-Digest", ""))

    def get_manifest(self, repository: str, reference: str) -> tuple[str, bytes]:
        scope = f"repository:{repository}:pull"
        _, headers, body = self.request(
            "GET", f"/v2/{repository}/manifests/{reference}", scope=scope, headers={"Accept": ACCEPT_MANIFESTS}
        )
        return str(headers.get("Content-Type", "")).split(";")[0], body


LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def registry_url(host: str) -> str:
    """Plain HTTP only for registries on this machine; Docker Hub's API lives on registry-1."""
    if host == "docker.io":
        return "https://registry-1.docker.io"
    if host.split(":")[0] in LOOPBACK or host.startswith("[::1]"):
        return f"http://{host}"
    return f"https://{host}"


def load_auths(path: Path | None) -> dict[str, Credentials]:
    if path is None:
        default = Path.home() / ".docker" / "config.json"
        if not default.is_file():
            return {}
        path = default
    try:
        data = json.loads(path.read_text())
        auths = data.get("auths", {})
        out = {}
        for host, entry in auths.items():
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            REDACTOR.register(password)
            out[host.removeprefix("https://").removeprefix("http://").rstrip("/")] = Credentials(user, password)
        return out
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError(
            f"cannot read registry credentials from {path}: {type(error).__name__}",
            hint='write it like ~/.docker/config.json: {"auths": {"HOST": {"auth": base64("user:password")}}}',
        ) from None


class Registries:
    """One client per registry host, so each host's tokens are fetched once per command."""

    def __init__(self, auths: dict[str, Credentials]) -> None:
        self.auths = auths
        self._clients: dict[str, Registry] = {}

    def get(self, host: str) -> Registry:
        if host not in self._clients:
            self._clients[host] = Registry(registry_url(host), credentials=self.auths.get(host))
        return self._clients[host]


@dataclass
class PushStats:
    uploaded: int = 0
    skipped: int = 0
    mounted: int = 0
    bytes_uploaded: int = 0
    manifests: int = 0
    images: list[str] = field(default_factory=list)


def push_layout(
    layout: Layout,
    registry: Registry,
    repository_for: Callable[[str], tuple[str, str]],
    *,
    jobs: int = 4,
    progress: Callable[[int], None] | None = None,
) -> PushStats:
    """Copy every image of `layout` to `registry`, digests unchanged; blobs it already has are skipped.

    `repository_for(ref)` gives (repository, tag) in the target registry for an image's reference.
    """
    stats = PushStats()
    lock = threading.Lock()
    holder: dict[str, str] = {}  # digest -> a repository that already has it (for mounts)

    def send(repository: str, blob: Descriptor) -> None:
        if registry.has_blob(repository, blob.digest):
            with lock:
                stats.skipped += 1
            if progress:
                progress(blob.size)
            return
        with lock:
            source = holder.get(blob.digest)
        if source and source != repository and registry.mount_blob(repository, blob.digest, source):
            with lock:
                stats.mounted += 1
        else:
            registry.push_blob(repository, blob, layout.blob_path(blob.digest), progress)
            with lock:
                stats.uploaded += 1
                stats.bytes_uploaded += blob.size
            return
        if progress:
            progress(blob.size)

    for image in layout.index():
        if image.ref is None:
            continue
        repository, tag = repository_for(image.ref)
        descriptors = list(layout.walk(image))
        blobs = list(
            {d.digest: d for d in descriptors if d.media_type not in (*INDEX_TYPES, MANIFEST, DOCKER_MANIFEST)}.values()
        )
        map_all(functools.partial(send, repository), blobs, jobs)
        for blob in blobs:
            holder.setdefault(blob.digest, repository)
        for descriptor in descriptors:
            if descriptor.media_type in (*INDEX_TYPES, MANIFEST, DOCKER_MANIFEST):
                reference = tag if descriptor.digest == image.digest else descriptor.digest
                body = layout.read_blob(descriptor.digest)
                try:
                    got = registry.put_manifest(repository, reference, descriptor.media_type, body)
                except RegistryRefused as error:
                    if "BLOB_UNKNOWN" not in str(error):
                        raise
                    # A blob the registry took is not linked yet (object storage that is only
                    # eventually consistent, an upload whose answer was lost): send what it lacks, once.
                    for blob in blobs:
                        if not registry.has_blob(repository, blob.digest):
                            registry.push_blob(repository, blob, layout.blob_path(blob.digest))
                    got = registry.put_manifest(repository, reference, descriptor.media_type, body)
                if got and got != descriptor.digest:
                    raise RegistryError(
                        f"{registry.base} stored {repository}:{reference} as {got}, not {descriptor.digest}",
                        hint="the registry rewrote the manifest; use a registry that keeps digests",
                    )
                stats.manifests += 1
        stats.images.append(f"{repository}:{tag}@{image.digest}")
    log.info("pushed %d images: %s", len(stats.images), stats)
    return stats
