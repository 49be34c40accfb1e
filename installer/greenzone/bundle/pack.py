"""A bundle as one tar, or as numbered parts for removable media, and back.

Sites receive bundles on USB sticks and DVDs; FAT32 cannot hold a file of 4 GiB or more, so the tar
is cut into parts of a chosen size (`bundle.tar.000`, `.001`...). Each part is hashed while it is
written and listed in `<name>.sha256` (the format `sha256sum -c` reads), written last. Unpacking
checks every part first and names the damaged or missing one, so the site knows which file to copy
again, then streams the parts through tar without ever joining them on disk.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import os
import re
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from greenzone.atomic import make_directory, refuse_directory
from greenzone.bundle.hashing import sha256_many
from greenzone.bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME, ManifestError, parse_manifest
from greenzone.bundle.seal import bundle_files
from greenzone.errors import InputError
from greenzone.interrupts import deferred
from greenzone.results import Check, Status
from greenzone.textfiles import read_text

Progress = Callable[[int], None]
_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "ki": 1024, "mi": 1024**2, "gi": 1024**3}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?)?b?\s*$", re.IGNORECASE)
MIN_PART = 1024 * 1024


def parse_size(text: str) -> int:
    """`4000M`, `3.9G`, `700MiB`, `1048576` -> bytes (K/M/G are powers of 1000, Ki/Mi/Gi of 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise InputError(
            f"--split {text!r} is not a size", hint="write e.g. 4000M (fits FAT32), 4G, 700MiB or a byte count"
        )
    size = int(float(match.group(1)) * _UNITS[(match.group(2) or "").lower()])
    if size < MIN_PART:
        raise InputError(f"--split {text} is smaller than 1 MiB", hint="parts that small only multiply files")
    return size


class _PartWriter:
    """A write-only stream that starts a new part file every `limit` bytes, hashing as it goes.

    Parts are written under hidden temporary names and only `publish()` gives them their real
    names, so an interrupted or refused pack leaves the previous pack (or nothing) and never a set
    of parts that looks whole; `discard()` removes what this run wrote."""

    def __init__(self, base: Path, limit: int | None, progress: Progress | None) -> None:
        self.base = base
        self.limit = limit
        self.progress = progress
        self.parts: list[tuple[Path, str, int]] = []
        self._temporaries: dict[Path, Path] = {}  # final name -> the hidden file written for it
        # Every hidden file made, for `discard`: tarfile closing its stream after an error still
        # flushes into this writer, which can start a second file for a name already started.
        self._made: list[Path] = []
        self._handle: IO[bytes] | None = None
        self._hash = hashlib.sha256()
        self._written = 0

    def _name(self) -> Path:
        if self.limit is None:
            return self.base
        return self.base.with_name(f"{self.base.name}.{len(self.parts):03d}")

    def _temporary(self, path: Path) -> Path:
        """A hidden name of its own, created exclusively (a planted link is never followed)."""
        with deferred():  # an interrupt between creating and recording it would leave it behind
            fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
            self._temporaries[path] = Path(name)
            self._made.append(Path(name))
        os.close(fd)
        return Path(name)

    def _open(self) -> None:
        self._path = self._name()
        self._handle = self._temporary(self._path).open("r+b")
        self._hash = hashlib.sha256()
        self._written = 0

    def _close(self) -> None:
        assert self._handle is not None
        self._handle.close()
        self.parts.append((self._path, self._hash.hexdigest(), self._written))
        self._handle = None

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            if self._handle is None:
                self._open()
            room = len(view) if self.limit is None else self.limit - self._written
            chunk = view[:room]
            assert self._handle is not None
            self._handle.write(chunk)
            self._hash.update(chunk)
            self._written += len(chunk)
            view = view[len(chunk) :]
            if self.limit is not None and self._written >= self.limit:
                self._close()
        if self.progress:
            self.progress(len(data))
        return len(data)

    def finish(self) -> None:
        if self._handle is not None:
            self._close()

    def publish(self) -> None:
        """Replace the previous pack of this name by this one, in the order that keeps the media
        honest at every instant: the old list goes first (no list ever names a part that is not
        there or not its), then each part takes its real name, then the parts of an older, longer
        pack and an older single tar (or parts, when this one is single) go, and the new list last."""
        listing = checksums_path(self.base)
        staged = self._temporary(listing)
        staged.write_text("".join(f"{digest}  {path.name}\n" for path, digest, _ in self.parts), encoding="utf-8")
        listing.unlink(missing_ok=True)
        for path, _, _ in self.parts:
            self._temporaries[path].replace(path)
            del self._temporaries[path]  # only once renamed: `discard` never misses a hidden part
        current = {path for path, _, _ in self.parts}
        for stale in earlier_pack(self.base):
            if stale not in current and stale != listing:
                stale.unlink()
        self._temporaries[listing].replace(listing)
        del self._temporaries[listing]

    def discard(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        for temporary in self._made:
            temporary.unlink(missing_ok=True)  # those already renamed are gone under this name
        self._temporaries.clear()


TEMPORARY_SUFFIX = ".packing"


def earlier_pack(base: Path) -> list[Path]:
    """What a previous pack to this name left: `base` itself, its numbered parts and its list."""
    names = [base] if base.exists() else []
    return names + [
        path
        for path in base.parent.glob(glob.escape(base.name) + ".*")
        if re.fullmatch(re.escape(base.name) + _PART_SUFFIX, path.name)
    ]


def _refuse_odd_earlier_pack(base: Path) -> None:
    """Checked before a byte is written: a directory (or device) under a name the pack will
    replace would otherwise stop it after the whole bundle was written."""
    for path in earlier_pack(base):
        if path.is_symlink() or not path.is_file():
            raise InputError(
                f"{path} is in the way of the pack (not a regular file)",
                hint="move it away, or give another --out",
            )


def _sweep_interrupted(base: Path) -> None:
    """Hidden parts a killed pack (SIGKILL, a power cut) left beside `base`."""
    for leftover in base.parent.glob(f".{glob.escape(base.name)}*{TEMPORARY_SUFFIX}"):
        with contextlib.suppress(OSError):
            leftover.unlink()


_PART_SUFFIX = r"\.(\d{3}|sha256)"  # `bundle.tar.000`..., and the list `bundle.tar.sha256`


def checksums_path(tar_path: Path) -> Path:
    return tar_path.with_name(tar_path.name + ".sha256")


def tar_of(path: Path) -> Path:
    """`b.tar.sha256`, `b.tar` or any part `b.tar.NNN` -> `b.tar`, the name the parts derive from."""
    return path.with_name(re.sub(_PART_SUFFIX + "$", "", path.name))


class _Checked:
    """A bundle file read into the tar while its sha256 is compared with the manifest's: packing
    proves the bundle still verifies at no extra read of its (often 100 GiB of) bytes."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data


def _refuse_output_inside(bundle_dir: Path, tar_path: Path) -> None:
    inside = tar_path.resolve().parent
    root = bundle_dir.resolve()
    if inside == root or root in inside.parents:
        raise InputError(
            f"--out {tar_path} lies inside the bundle {bundle_dir}",
            hint="write the tar somewhere else (e.g. the USB stick's root); a bundle holds only what its manifest lists",
        )


def pack(
    bundle_dir: Path,
    tar_path: Path,
    *,
    split: int | None = None,
    progress: Progress | None = None,
    public_key: Path | None = None,
) -> list[Path]:
    """Write the bundle as `tar_path` (or its numbered parts) plus the checksum list; returns the parts.

    Refused, with nothing written, when the bundle no longer matches its manifest: a damaged bundle
    must not travel to a site as if it were whole."""
    if not (bundle_dir / MANIFEST_NAME).exists():
        raise InputError(f"{bundle_dir} holds no {MANIFEST_NAME}", hint="build (and sign) the bundle first")
    text = read_text(bundle_dir / MANIFEST_NAME, "a bundle manifest")  # permission problems stay exit 4
    try:
        manifest = parse_manifest(text, str(bundle_dir / MANIFEST_NAME))
    except ManifestError as error:
        raise InputError(
            f"{bundle_dir} is not a bundle that can be packed: {error}", hint="rebuild the bundle"
        ) from None
    _refuse_output_inside(bundle_dir, tar_path)
    refuse_directory(tar_path, "--out (the tar, or the name its parts take)")
    if public_key is not None:
        _refuse_bad_signature(bundle_dir, public_key)
    listed = {item.path: item for item in manifest.files}
    files = bundle_files(bundle_dir)
    on_disk = {path.relative_to(bundle_dir).as_posix() for path in files}
    # A delta's left-out files are its base's: not missing (a completed delta packs them all).
    left_out = {item.path for item in manifest.from_base()} - on_disk
    problems = [f"{name}: listed in {MANIFEST_NAME} but missing" for name in sorted(set(listed) - on_disk - left_out)]
    problems += [f"{name}: not listed in {MANIFEST_NAME}" for name in sorted(on_disk - set(listed))]
    if problems:
        raise _no_longer_verifies(bundle_dir, problems)
    make_directory(tar_path.parent)
    _refuse_odd_earlier_pack(tar_path)
    _sweep_interrupted(tar_path)
    # The manifest and signature go first so that a reader learns what follows before it arrives.
    first = [bundle_dir / name for name in (MANIFEST_NAME, SIGNATURE_NAME) if (bundle_dir / name).is_file()]
    writer = _PartWriter(tar_path, split, progress)
    try:
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            for path in [*first, *files]:
                name = path.relative_to(bundle_dir).as_posix()
                info = tar.gettarinfo(str(path), arcname=name)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with path.open("rb") as handle:
                    checked = _Checked(handle)
                    tar.addfile(info, checked)
                want = listed.get(name)
                if want is not None and (checked.digest.hexdigest() != want.sha256 or checked.size != want.size):
                    raise _no_longer_verifies(
                        bundle_dir, [f"{name}: its bytes differ from the manifest's sha256 (altered or damaged)"]
                    )
        writer.finish()
        writer.publish()
    except BaseException:
        writer.discard()
        raise
    return [path for path, _, _ in writer.parts]


def _refuse_bad_signature(bundle_dir: Path, public_key: Path) -> None:
    from greenzone.bundle.sign import load_public_key
    from greenzone.bundle.verify import read_signed_manifest, signature_check

    raw, _ = read_signed_manifest(bundle_dir)
    check = signature_check(bundle_dir, raw, load_public_key(public_key), public_key)
    if check.status is Status.FAIL:
        raise InputError(f"{bundle_dir}: {check.detail}; nothing was packed", hint=check.remedy)


def _no_longer_verifies(bundle_dir: Path, problems: list[str]) -> InputError:
    return InputError(
        f"{bundle_dir} does not match its manifest; nothing was packed",
        hint="run `greenzone bundle verify` on it, then rebuild it (`greenzone bundle build`) or copy it again",
        details=problems,
    )


@dataclass(frozen=True)
class Part:
    path: Path
    sha256: str


def read_checksums(listing: Path) -> list[Part]:
    text = read_text(listing, "a checksum list written by `greenzone bundle pack`", limit=1024 * 1024)
    parts: list[Part] = []
    for number, line in enumerate(text.splitlines(), 1):
        digest, _, name = line.partition("  ")
        if not re.fullmatch(r"[0-9a-f]{64}", digest) or not name or "/" in name:
            raise InputError(
                f"{listing}:{number}: expected `<sha256>  <file name>`, got {line[:80]!r}",
                hint="the checksum list is damaged; copy it again from the original media",
            )
        if any(part.path.name == name for part in parts):
            raise InputError(
                f"{listing}:{number}: {name} is listed a second time",
                hint="the checksum list is damaged; copy it again from the original media",
            )
        parts.append(Part(listing.parent / name, digest))
    if not parts:
        raise InputError(f"{listing} lists no parts", hint="copy the .sha256 file written by `bundle pack` again")
    return parts


def check_parts(parts: list[Part], progress: Progress | None = None) -> list[Check]:
    """Every part hashed in parallel, as `bundle verify` hashes files; each one named in the result."""
    present = [part.path for part in parts if part.path.is_file()]
    hashed = {item.path: item for item in sha256_many(present, progress=progress)}
    checks = []
    for part in parts:
        name = f"part {part.path.name}"
        got = hashed.get(part.path)
        if got is None:
            checks.append(
                Check(
                    name,
                    Status.FAIL,
                    "missing",
                    f"copy {part.path.name} from the media into {part.path.parent}",
                    "parts",
                )
            )
            continue
        if got.sha256 != part.sha256:
            checks.append(
                Check(
                    name,
                    Status.FAIL,
                    f"altered or truncated ({got.size} bytes, sha256 {got.sha256})",
                    f"copy {part.path.name} again; the media or the copy damaged it",
                    "parts",
                )
            )
        else:
            checks.append(Check(name, Status.PASS, f"{got.size} bytes, sha256 matches", "", "parts"))
    return checks


class _Joined:
    """The parts read one after another as a single stream."""

    def __init__(self, paths: list[Path]) -> None:
        self._paths: Iterator[Path] = iter(paths)
        self._handle: IO[bytes] | None = None

    def read(self, size: int = -1) -> bytes:
        while True:
            if self._handle is None:
                path = next(self._paths, None)
                if path is None:
                    return b""
                self._handle = path.open("rb")
            data = self._handle.read(size)
            if data:
                return data
            self._handle.close()
            self._handle = None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def unpack(parts: list[Part], dest: Path) -> int:
    """Extract the (already checked) parts into `dest`; plain files and directories only."""
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    stream = _Joined([part.path for part in parts])
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                name = Path(member.name)
                if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
                    raise InputError(
                        f"the bundle archive holds {member.name!r}, which is not a plain file inside the bundle",
                        hint="the archive was not written by `greenzone bundle pack`; do not use it",
                    )
                tar.extract(member, dest, filter="data")
                count += member.isfile()
    except OSError as error:
        if error.errno not in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP):
            raise  # a full or read-only disk, a permission: this machine's problem, said as such
        raise InputError(
            f"the parts hold a member that cannot be unpacked as a bundle file ({error.strerror})",
            hint="the archive was not written by `greenzone bundle pack`; get the parts again from the vendor",
        ) from None
    except (tarfile.TarError, EOFError) as error:
        first = parts[0].path.name if parts else "the parts"
        raise InputError(
            f"the parts listed with {first} are not a whole tar written by `greenzone bundle pack`: {error}",
            hint="the checksum list matches the files, so they were listed this way: get the parts and "
            "their .sha256 list again from the vendor",
        ) from None
    finally:
        stream.close()
    return count
