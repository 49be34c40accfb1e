"""Reading a user's text file: every reader gets the same refusals, located the same way.

A file that is not UTF-8 (a checksum list saved by a Windows editor, a lock file with a Latin-1
comment) is named by line and column, the way an editor shows it, not by byte offset.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from greenzone.errors import GreenzoneError, InputError, from_os_error


def utf8_error_position(raw: bytes, start: int) -> tuple[int, int]:
    """Line and column (1-based, in characters, as an editor shows them) of the byte `start` of a
    `utf-8-sig` decode: its offsets count from after a byte-order mark, which no editor shows."""
    body = raw[len(codecs.BOM_UTF8) :] if raw.startswith(codecs.BOM_UTF8) else raw
    before = body[:start].decode("utf-8", errors="replace")
    line = before.count("\n") + 1
    return line, len(before) - (before.rfind("\n") + 1) + 1


def bad_byte(raw: bytes, start: int) -> int:
    """The byte a `utf-8-sig` decode refused at `start`."""
    return raw[start + len(codecs.BOM_UTF8)] if raw.startswith(codecs.BOM_UTF8) else raw[start]


def decode(raw: bytes, name: str, what: str = "text") -> str:
    """UTF-8 (a BOM tolerated), or an InputError at `name:line:column` naming the byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line, column = utf8_error_position(raw, error.start)
        raise InputError(
            f"{name}:{line}:{column}: byte 0x{bad_byte(raw, error.start):02x} is not UTF-8; {what} must be UTF-8 text",
            hint="save the file as UTF-8 (most editors offer it under 'Save as' / encoding), or copy it again",
        ) from None


def read_text(path: Path, what: str = "text", *, limit: int | None = None) -> str:
    """The file's text, or a located GreenzoneError (missing, a directory, unreadable, not UTF-8)."""
    try:
        if path.is_dir():
            raise InputError(f"{path} is a directory, not {what}", hint="give the path of the file inside it")
        size = path.stat().st_size
        if limit is not None and size > limit:
            raise InputError(
                f"{path} is {size} bytes; {what} is at most {limit} bytes", hint="check that this is the right file"
            )
        raw = path.read_bytes()
    except GreenzoneError:
        raise
    except OSError as error:
        raise from_os_error(error) from None
    return decode(raw, str(path), what)
