"""The appliance's secrets: generated once on the installing machine, kept in one mode-0600 file.

Every later run reads the same file, so a re-run never rotates a password under a running Harbor
(which would lock it out of its own database) and the k3s join token stays what the nodes already
use. The admin password the answers name (file or environment) wins over the stored one. The
roles read this file with `no_log`; nothing else on disk holds a secret, and every value is
registered with the log redactor the moment it is loaded.

The self-signed CA and certificates cover the registry host name and `network.hostname`; with
`registry.tls.mode: provided` the operator's pair is used for both and the certificates of its
chain are what nodes trust.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import string
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import bcrypt
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from greenzone import yamlpos
from greenzone.answers.model import Answers
from greenzone.atomic import write_text_atomic, write_text_if_changed
from greenzone.errors import InputError
from greenzone.redact import REDACTOR, shown_reference
from greenzone.statedir import StateDir
from greenzone.values import gateway

REGISTRY_USER = "harbor_registry_user"
CA_DAYS, LEAF_DAYS = 3650, 825


def _token(length: int = 32) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _harbor_password() -> str:
    """Harbor wants 8+ characters with an upper-case letter, a lower-case letter and a digit."""
    return "Gz" + _token(22) + "7"


_GENERATED: dict[str, Callable[[], str]] = {
    "k3s_token": lambda: _token(48),
    "harbor_admin_password": _harbor_password,
    "harbor_secret_key": lambda: _token(16),  # Harbor refuses any other length
    "harbor_core_secret": lambda: _token(16),
    "harbor_csrf_key": lambda: _token(32),
    "harbor_jobservice_secret": lambda: _token(16),
    "harbor_registry_http_secret": lambda: _token(16),
    "harbor_registry_password": _harbor_password,
    "harbor_database_password": lambda: _token(24),
    "grafana_admin_user": lambda: "admin",
    "grafana_admin_password": lambda: _token(24),
    "chat_ui_secret_key": lambda: _token(48),
    gateway.MASTER_CREDENTIAL: lambda: "sk-" + secrets.token_hex(32),
}


def answered_admin_password(answers: Answers, environ: Mapping[str, str]) -> str | None:
    registry = answers.registry
    if registry.admin_password_file:
        try:
            return registry.admin_password_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            shown = shown_reference(str(registry.admin_password_file), "admin_password_file")
            raise InputError(
                f"cannot read registry.admin_password_file {shown}: {error.strerror}",
                hint="check the path and that this user can read it",
            ) from None
    if registry.admin_password_env:
        value = environ.get(registry.admin_password_env)
        if not value:
            shown = shown_reference(registry.admin_password_env, "admin_password_env")
            raise InputError(
                f"registry.admin_password_env names {shown}, which is not set",
                hint=f"export {shown} before `greenzone install`" if shown == registry.admin_password_env else "",
            )
        return value
    return None


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    names: Sequence[str] = (),
    ips: Sequence[str] = (),
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, signer = issuer if issuer else (name, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS if issuer else CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer:
        alternatives: list[x509.GeneralName] = [x509.DNSName(item) for item in names]
        alternatives += [x509.IPAddress(ipaddress.ip_address(item)) for item in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _self_signed(answers: Answers) -> dict[str, str]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(f"Greenzone CA {answers.appliance.name}", ca_key, None)
    ips = [answers.network.advertise_ip] if answers.network.advertise_ip else []
    found = {"ca_crt": ca.public_bytes(serialization.Encoding.PEM).decode(), "ca_key": _pem_key(ca_key)}
    for prefix, names in (("registry", [answers.registry_hostname()]), ("ingress", [answers.network.hostname])):
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = _certificate(names[0], key, (ca.subject, ca_key), names=names, ips=ips)
        found[f"{prefix}_tls_crt"] = leaf.public_bytes(serialization.Encoding.PEM).decode()
        found[f"{prefix}_tls_key"] = _pem_key(key)
    return found


def _provided(answers: Answers) -> dict[str, str]:
    tls = answers.registry.tls
    assert tls.cert_file and tls.key_file  # the answers rules demand both in `provided` mode
    try:
        chain, key = tls.cert_file.read_text(), tls.key_file.read_text()
    except OSError as error:
        raise InputError(
            f"cannot read the provided TLS files: {error}", hint="check registry.tls.cert_file and key_file"
        ) from None
    return {
        "ca_crt": chain,
        "registry_tls_crt": chain,
        "registry_tls_key": key,
        "ingress_tls_crt": chain,
        "ingress_tls_key": key,
    }


def _tls_matches(stored: Mapping[str, str], answers: Answers) -> bool:
    """Whether the stored certificates still fit the answers (host names, mode)."""
    if answers.registry.tls.mode == "provided":
        return stored.get("registry_tls_crt") == _provided(answers)["registry_tls_crt"]
    if "ca_key" not in stored or "registry_tls_crt" not in stored:
        return False
    cert = x509.load_pem_x509_certificate(stored["registry_tls_crt"].encode())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    return names == [answers.registry_hostname()]


def load_credentials(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data = yamlpos.data(path.read_text(encoding="utf-8"), str(path)) or {}
        if not isinstance(data, dict) or not all(isinstance(value, str) for value in data.values()):
            raise ValueError("expected a mapping of names to strings")
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise InputError(
            f"cannot read the credentials file {path}: {error}",
            hint="restore it from your backup; a new one would not match what the running appliance uses",
        ) from None
    for value in data.values():
        REDACTOR.register(value)
    return data


def save_credentials(path: Path, credentials: Mapping[str, str]) -> None:
    """The credentials file, whole or not at all (a temporary file, then a rename), mode 0600; every
    value registered with the log redactor first."""
    for value in credentials.values():
        REDACTOR.register(value)
    write_text_atomic(path, yaml.safe_dump(dict(credentials), sort_keys=True), mode=0o600)


def ensure_credentials(state: StateDir, answers: Answers, environ: Mapping[str, str] | None = None) -> list[str]:
    """Create or complete `credentials.yaml` (0600) and the public `ca.crt`; return the names it wrote.

    Writes only when something is new, so a second run leaves both files untouched.
    """
    environ = os.environ if environ is None else environ
    path = state.credentials
    stored = load_credentials(path)
    wanted = dict(stored)
    for name, generate in _GENERATED.items():
        wanted.setdefault(name, generate())
    # A department that left the answers loses its key: the gateway knows only the keys stored here.
    tenants = {gateway.credential_name(tenant) for tenant in gateway.tenant_names(answers)}
    for name in [name for name in wanted if name.startswith(gateway.KEY_PREFIX) and name not in tenants]:
        del wanted[name]
    for name in sorted(tenants):
        wanted.setdefault(name, gateway.new_key())
    answered = answered_admin_password(answers, environ)
    if answered:
        wanted["harbor_admin_password"] = answered
    if "harbor_registry_htpasswd" not in wanted or not bcrypt.checkpw(
        wanted["harbor_registry_password"].encode(),
        wanted["harbor_registry_htpasswd"].partition(":")[2].encode(),
    ):
        hashed = bcrypt.hashpw(wanted["harbor_registry_password"].encode(), bcrypt.gensalt()).decode()
        wanted["harbor_registry_htpasswd"] = f"{REGISTRY_USER}:{hashed}"
    if not _tls_matches(wanted, answers):
        wanted.update(_provided(answers) if answers.registry.tls.mode == "provided" else _self_signed(answers))
    # Unchanged, every value came through load_credentials, which registered it with the redactor.
    written = []
    if wanted != stored:
        state.create()
        save_credentials(path, wanted)
        written.append(path.name)
    if write_text_if_changed(state.ca_certificate, wanted["ca_crt"], mode=0o644):
        written.append(state.ca_certificate.name)
    return written
