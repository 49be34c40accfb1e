"""What a real registry needs to demand credentials: a CA and TLS certificate, an htpasswd file, and
a token server issuing the JWTs distribution verifies (the flow of Docker Hub, Harbor and ECR).

The token server is ours (a few lines on 127.0.0.1); the registry that checks its tokens is the
real `docker-registry`, configured with `auth.token` and the server's certificate as root.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

USER, PASSWORD = "vendor", "s3cret-Registry-pw"
SERVICE, ISSUER = "greenzone-test-registry", "greenzone-test-issuer"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey] | None, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def site_tls(directory: Path) -> tuple[Path, Path, Path]:
    """A site CA and a server certificate for 127.0.0.1 signed by it: (ca.crt, server.crt, server.key)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("greenzone test site CA", ca_key, None, ca=True)
    server = _cert("127.0.0.1", server_key, ("greenzone test site CA", ca_key), ca=False)
    paths = directory / "ca.crt", directory / "server.crt", directory / "server.key"
    paths[0].write_bytes(_pem(ca))
    paths[1].write_bytes(_pem(server))
    paths[2].write_bytes(_key_pem(server_key))
    return paths


def htpasswd(directory: Path) -> Path:
    path = directory / "htpasswd"
    path.write_text(f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()}\n")
    return path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@contextmanager
def token_server(directory: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """Yields (realm URL, root certificate for the registry, scopes granted so far)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert("greenzone token signer", key, None, ca=True)
    root = directory / "token-root.crt"
    directory.mkdir(parents=True, exist_ok=True)
    root.write_bytes(_pem(cert))
    x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    granted: list[str] = []

    def issue(scope: str) -> str:
        access = []
        for item in scope.split():  # a cross-repository mount asks for two scopes at once
            kind, name, actions = item.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": USER,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": os.urandom(8).hex(),
            "access": access,
        }
        header = {"typ": "JWT", "alg": "ES256", "x5c": [x5c]}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self.send_error(401)
                return
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            scope = query.get("scope", [""])[0]
            granted.append(scope)
            body = json.dumps({"token": issue(scope), "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token", root, granted
    finally:
        server.shutdown()
        server.server_close()


def token_auth_config(realm: str, root: Path) -> str:
    return f"{{token: {{realm: '{realm}', service: {SERVICE}, issuer: {ISSUER}, rootcertbundle: '{root}'}}}}"


def htpasswd_auth_config(path: Path) -> str:
    return f"{{htpasswd: {{realm: greenzone-test, path: '{path}'}}}}"


def docker_config(directory: Path, host: str, user: str = USER, password: str = PASSWORD) -> Path:
    path = directory / "config.json"
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    path.chmod(0o600)
    return path
