"""Write-then-rename helpers: a reader (or a crash) never sees a half-written file."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from greenzone.errors import InputError


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


def write_bytes_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to a temp file beside `path`, fsync it, then rename it over `path`."""
    make_directory(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise


def write_text_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    write_bytes_atomic(path, text.encode("utf-8"), mode)


def write_text_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    """Write atomically unless `path` already holds `text`; True when it wrote (idempotent re-runs)."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    write_text_atomic(path, text, mode)
    return True


@contextlib.contextmanager
def staged_directory(dest: Path) -> Iterator[Path]:
    """A fresh hidden directory beside `dest` to fill; `publish_directory` gives it `dest`'s name.

    Whatever ends the work early (a refusal, Ctrl-C, SIGTERM, a full disk) removes the directory,
    so `dest` is either absent, as it was, or complete, and a re-run finds nothing in its way."""
    make_directory(dest.parent)
    staged = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial"))
    try:
        yield staged
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)


def publish_directory(staged: Path, dest: Path) -> None:
    """Rename `staged` to `dest`; an empty `dest` (made by the user beforehand) is replaced."""
    if dest.is_dir() and not dest.is_symlink() and not any(dest.iterdir()):
        dest.rmdir()
    staged.chmod(0o755)  # mkdtemp makes it 0700
    staged.replace(dest)
