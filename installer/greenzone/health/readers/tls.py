"""Certificates as they are served and stored: the leaf each HTTPS endpoint presents (read without
trusting it, since an expired or foreign certificate is exactly what this looks for) and the
appliance CA file."""

from __future__ import annotations

import socket
import ssl
import urllib.parse
from pathlib import Path

from cryptography import x509

from greenzone.health.observed import CertView
from greenzone.health.readers.deadline import Deadline

CALL_TIMEOUT = 3.0


def _view(name: str, where: str, cert: x509.Certificate) -> CertView:
    return CertView(name, where, cert.not_valid_after_utc, cert.subject.rfc4514_string())


def file_cert(name: str, path: Path) -> CertView:
    """The certificate of `path` that expires first (a provided chain holds several)."""
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as error:
        return CertView(name, str(path), error=getattr(error, "strerror", None) or str(error))
    return _view(name, str(path), min(certs, key=lambda cert: cert.not_valid_after_utc))


def served_cert(name: str, url: str, deadline: Deadline) -> CertView | None:
    """The leaf an https URL presents; None for plain http (nothing to expire)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    where = f"{parts.hostname}:{parts.port or 443}"
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(
                (parts.hostname, parts.port or 443), timeout=deadline.timeout(CALL_TIMEOUT)
            ) as raw,
            context.wrap_socket(raw, server_hostname=parts.hostname) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as error:
        reason = "no answer (timed out)" if isinstance(error, TimeoutError) else str(error) or type(error).__name__
        return CertView(name, where, error=reason)
    if not der:
        return CertView(name, where, error="the server sent no certificate")
    return _view(name, where, x509.load_der_x509_certificate(der))
