"""The SMTP sandbox's TLS: a certificate configured by the operator, or one generated at start, signed by a
CA generated with it and written to a file the email worker is told to trust, so that tests and the demo
exercise STARTTLS with the certificate checked, hostname included, exactly as against a real relay."""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from devtools import certificates

# Certificates are checked against the wall clock, whatever clock the sandbox simulates.
_VALIDITY = timedelta(days=365)


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def generated_context(names: Sequence[str], ca_file: Path) -> ssl.SSLContext:
    """A server context with a freshly generated certificate; its CA goes to ``ca_file``."""
    ca, cert, key = certificates.generate(names, "collections-outreach SMTP sandbox CA", _VALIDITY)
    # The key is on disk only while the context loads it (ssl has no API for keys in memory).
    with tempfile.TemporaryDirectory(prefix="smtp-sandbox-tls-") as private:
        cert_file, key_file = Path(private) / "cert.pem", Path(private) / "key.pem"
        cert_file.write_bytes(cert)
        key_file.touch(mode=0o600)
        key_file.write_bytes(key)
        context = server_context(cert_file, key_file)
    ca_file.parent.mkdir(parents=True, exist_ok=True)
    # Written whole under another name first: a worker reading it meanwhile sees all of it or nothing.
    partial = ca_file.with_name(ca_file.name + ".partial")
    partial.write_bytes(ca)
    partial.replace(ca_file)
    return context
