"""Write-then-rename helpers: a reader (or a crash) never sees a half-written file."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from greenzone.errors import InputError
from greenzone.interrupts import deferred


def make_directory(path: Path) -> None:
    """`mkdir -p`, refusing with the culprit named when a part of the path is a file (the OS only
    says "File exists" or "Not a directory" about the whole path)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        culprit = next((part for part in (path, *path.parents) if part.exists() and not part.is_dir()), path)
        needs = "a directory is needed there" if culprit == path else f"{path} needs it to be a directory"
        raise InputError(
            f"{culprit} is a file; {needs}",
            hint="choose another path, or move that file out of the way",
        ) from None


def refuse_directory(path: Path, what: str) -> None:
    """A file is to be written at `path`: a directory there is the user's slip, said as such."""
    if path.is_dir():
        raise InputError(f"{path} is a directory; {what} is a file", hint=f"give a file path, e.g. {path / 'NAME'}")
    writable_target(path, what)


def writable_target(path: Path, what: str = "the output") -> Path:
    """Where a write-then-rename of `path` must happen: a symbolic link's target (so the link stays
    a link), and never a device, pipe or socket, which a rename would replace (`--out /dev/null`
    would turn the machine's /dev/null into a regular file)."""
    target = path.resolve() if path.is_symlink() else path
    if target.exists() and not target.is_file() and not target.is_dir():
        kind = "a device" if target.is_block_device() or target.is_char_device() else "a pipe or socket"
        raise InputError(
            f"{path} is {kind}; {what} is written as a regular file",
            hint="give the path of a file (to only check a bundle, use `greenzone bundle verify`)",
        )
    return target


def write_bytes_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to a temp file beside `path`, fsync it, then rename it over `path`."""
    path = writable_target(path)
    make_directory(path.parent)
    with temporary_beside(path) as (fd, tmp):
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)


@contextlib.contextmanager
def temporary_beside(path: Path, suffix: str = ".tmp") -> Iterator[tuple[int, Path]]:
    """A new hidden file beside `path` (its descriptor and name) for the caller to fill and rename.

    Removed when the block ends by an exception, including an interrupt that lands the instant
    `mkstemp` returns: creating it and taking charge of it are one step for the signal handlers."""
    made: Path | None = None
    try:
        with deferred():
            fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
            made = Path(name)
        yield fd, made
    except BaseException:
        if made is not None:
            made.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    write_bytes_atomic(path, text.encode("utf-8"), mode)


def write_text_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    """Write atomically unless `path` already holds `text`; True when it wrote (idempotent re-runs)."""
    with contextlib.suppress(OSError):  # unreadable or damaged: it is rewritten, never decoded
        if path.is_file() and path.read_bytes() == text.encode("utf-8"):
            return False
    write_text_atomic(path, text, mode)
    return True


@contextlib.contextmanager
def staged_directory(dest: Path) -> Iterator[Path]:
    """A fresh hidden directory to fill; `publish_directory` gives its content `dest`'s name.

    It lies beside `dest`, or inside it when `dest` is an existing empty directory (a mount point
    such as a freshly mounted disk, a link to one, a directory made for the purpose): the rename then
    stays on that filesystem and needs no right to write the parent. Whatever ends the work early (a
    refusal, Ctrl-C, SIGTERM, a full disk) removes it, so `dest` is left as it was or complete, and
    a re-run finds nothing in its way."""
    inside = dest.resolve() if dest.is_dir() else None
    if inside is None:
        make_directory(dest.parent)
    home = inside or dest.parent
    with scratch_directory(f".{dest.name}.", home, suffix=".partial") as staged:
        yield staged


@contextlib.contextmanager
def scratch_directory(prefix: str, parent: Path | None = None, *, suffix: str = "") -> Iterator[Path]:
    """A fresh private directory (in `parent`, else the system's temporary directory), removed with
    what it holds when the block ends, however it ends: even an interrupt the instant it is made,
    which `tempfile.TemporaryDirectory` would leave behind, since creating it and taking charge of
    it are one step for the signal handlers."""
    made: Path | None = None
    try:
        with deferred():
            made = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent))
        yield made
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


def publish_directory(staged: Path, dest: Path) -> None:
    """Give `staged` the name `dest`, or move its entries into `dest` when it was staged inside it."""
    if staged.parent == dest.resolve():
        for entry in staged.iterdir():
            entry.replace(dest.resolve() / entry.name)
        staged.rmdir()
        return
    staged.chmod(0o755)  # mkdtemp makes it 0700
    staged.replace(dest)
