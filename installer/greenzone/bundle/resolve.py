"""`bundle lock --update`: fill every `unresolved` pin from the upstream, on a connected machine.

Only the `unresolved` values change; comments, order and every pin already made stay as written,
so the change is one reviewable diff. Pins are never silently replaced: moving a pinned version is
an edit a person makes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from greenzone.atomic import write_text_atomic
from greenzone.bundle.download import hash_url
from greenzone.bundle.lock import LockValidation, Pin, fill_pins, unresolved
from greenzone.bundle.oci import digest_of
from greenzone.bundle.registry import Credentials, Registries
from greenzone.refs import split_ref
from greenzone.yamlpos import KeyPath


def resolve_pin(pin: Pin, registries: Registries, progress: Callable[[int], None] | None) -> str:
    if pin.kind == "file":
        sha256, _ = hash_url(pin.source, progress=progress)
        return sha256
    host, repository, tag = split_ref(pin.source)
    _, body = registries.get(host).get_manifest(repository, tag)
    return digest_of(body)


def update_lock(
    path: Path,
    validation: LockValidation,
    auths: dict[str, Credentials],
    progress: Callable[[int], None] | None = None,
) -> dict[KeyPath, str]:
    """Resolve and write back every unresolved pin; returns what was filled, by key path."""
    assert validation.lock is not None
    registries = Registries(auths)
    values = {pin.path: resolve_pin(pin, registries, progress) for pin in unresolved(validation.lock)}
    if values:
        write_text_atomic(path, fill_pins(path.read_text(encoding="utf-8"), validation.positions, values))
    return values
