"""ed25519 keys and the detached signature of `bundle.yaml`.

Like Zarf, only the manifest is signed; it pins every file's sha256, so one signature covers the
bundle and verification needs no network (no transparency log). Keys are PEM: the private key
(PKCS#8, mode 0600) stays with the vendor, the public key (SubjectPublicKeyInfo) travels to sites.
The signature file holds the 64 signature bytes in base64 on one line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from greenzone.atomic import write_bytes_atomic
from greenzone.errors import InputError, from_os_error


def keygen(private_path: Path, public_path: Path) -> None:
    for path in (private_path, public_path):
        if path.exists():
            raise InputError(f"{path} already exists", hint="choose another name; keys are never overwritten")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    write_bytes_atomic(private_path, private_pem, mode=0o600)
    write_bytes_atomic(public_path, public_pem, mode=0o644)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as error:
        raise from_os_error(error, "cannot read the private key") from None
    except (ValueError, TypeError):
        raise InputError(
            f"{path} is not an unencrypted PEM private key",
            hint="create one with `greenzone bundle keygen`",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{path} is not an ed25519 key", hint="create one with `greenzone bundle keygen`")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as error:
        raise from_os_error(error, "cannot read the public key") from None
    except ValueError:
        raise InputError(
            f"{path} is not a PEM public key",
            hint="use the .pub file that `greenzone bundle keygen` wrote next to the private key",
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"{path} is not an ed25519 public key", hint="ask the vendor for the bundle's ed25519 key")
    return key


def fingerprint(path: Path) -> str:
    """sha256 of the public key's DER encoding, what `openssl pkey -pubin -outform DER | sha256sum`
    prints: the value a vendor tells sites out of band and the bootstrap's --key-sha256 compares."""
    key = load_public_key(path)
    return hashlib.sha256(
        key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).hexdigest()


def sign_bytes(key: Ed25519PrivateKey, data: bytes) -> bytes:
    return base64.b64encode(key.sign(data)) + b"\n"


def signature_matches(key: Ed25519PublicKey, data: bytes, signature_text: bytes) -> bool:
    try:
        raw = base64.b64decode(signature_text.strip(), validate=True)
        key.verify(raw, data)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
