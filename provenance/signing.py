"""C2PA signing credentials: the configured certificate chain and key, or a local development CA.

Production sets C2PA_CERT_CHAIN_PATH (PEM, leaf first, then intermediates) and C2PA_PRIVATE_KEY_PATH (PKCS#8
PEM) to a certificate from a CA on the C2PA trust list. Without them, `dev_ca_ensure()` creates a development
root CA and an ES256 signing certificate under settings.C2PA_DEV_CA_DIR (var/c2pa/). Manifests signed with it
are cryptographically valid, but only verifiers that add the dev root as a trust anchor call the signer trusted.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings

from core.errors import ApplicationError

logger = logging.getLogger(__name__)

DEV_ORGANIZATION = "Persona Studio (development)"
CA_FILE = "dev-root-ca.pem"
CA_KEY_FILE = "dev-root-ca.key"
CHAIN_FILE = "signer-chain.pem"
KEY_FILE = "signer.key"
CA_VALIDITY_DAYS = 3650
LEAF_VALIDITY_DAYS = 825


class SigningNotConfigured(ApplicationError):
    status = 500
    code = "c2pa_signing_not_configured"


@dataclass(frozen=True)
class SigningCredentials:
    cert_chain_pem: bytes  # leaf first, then intermediates (the root is optional)
    private_key_pem: bytes
    # Roots verification should trust on top of the configured ones (the dev root when the dev CA is used).
    trust_anchors_pem: bytes
    is_development: bool


@dataclass(frozen=True)
class DevCAPaths:
    directory: Path
    ca_cert: Path
    chain: Path
    private_key: Path
    created: bool


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEV_ORGANIZATION),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )


def _write_private(path: Path, data: bytes) -> None:
    # Keys are created owner-readable only, never world-readable even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _pkcs8(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def dev_ca_paths(directory: Path | None = None) -> DevCAPaths:
    directory = Path(directory or settings.C2PA_DEV_CA_DIR)
    return DevCAPaths(
        directory=directory,
        ca_cert=directory / CA_FILE,
        chain=directory / CHAIN_FILE,
        private_key=directory / KEY_FILE,
        created=False,
    )


def dev_ca_ensure(*, directory: Path | None = None, force: bool = False) -> DevCAPaths:
    """Create the development root CA and signing certificate if missing (or always, with force).

    The leaf follows the C2PA claim-signing certificate profile: ES256 on P-256, not a CA, critical
    digitalSignature key usage, emailProtection + documentSigning EKUs, subject/authority key identifiers.
    """
    paths = dev_ca_paths(directory)
    if not force and all(p.exists() for p in (paths.ca_cert, paths.chain, paths.private_key)):
        return paths
    paths.directory.mkdir(parents=True, exist_ok=True)

    now = dt.datetime.now(dt.UTC)
    # Backdated a little so a verifier with a slightly slow clock does not see a not-yet-valid cert.
    not_before = now - dt.timedelta(days=1)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Persona Studio Dev Root CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + dt.timedelta(days=CA_VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Persona Studio Dev Content Signer"))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + dt.timedelta(days=LEAF_VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    _write_private(paths.directory / CA_KEY_FILE, _pkcs8(ca_key))
    _write_private(paths.private_key, _pkcs8(leaf_key))
    paths.ca_cert.write_bytes(ca_pem)
    # The chain file = leaf + CA, as signers embed it in the manifest's x5chain.
    paths.chain.write_bytes(leaf_cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
    logger.info("Created C2PA development CA and signing certificate in %s", paths.directory)
    return DevCAPaths(paths.directory, paths.ca_cert, paths.chain, paths.private_key, created=True)


def _read(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SigningNotConfigured(f"Cannot read the C2PA {what} at {path}: {exc.strerror or exc}.") from None


def _configured_trust_anchors() -> bytes:
    path = getattr(settings, "C2PA_TRUST_ANCHORS_PATH", "")
    return _read(path, "trust anchors file") if path else b""


def signing_credentials_get() -> SigningCredentials:
    """The chain and key to sign with: the configured ones, else the dev CA (created on first use)."""
    chain_path = getattr(settings, "C2PA_CERT_CHAIN_PATH", "")
    key_path = getattr(settings, "C2PA_PRIVATE_KEY_PATH", "")
    if bool(chain_path) != bool(key_path):
        raise SigningNotConfigured(
            "Set both C2PA_CERT_CHAIN_PATH and C2PA_PRIVATE_KEY_PATH (or neither, to use the development CA)."
        )
    if chain_path:
        return SigningCredentials(
            cert_chain_pem=_read(chain_path, "certificate chain"),
            private_key_pem=_read(key_path, "private key"),
            trust_anchors_pem=_configured_trust_anchors(),
            is_development=False,
        )
    paths = dev_ca_ensure()
    if paths.created and not settings.DEBUG:
        logger.warning(
            "No C2PA signing certificate configured: signing with the development CA in %s. Verifiers will "
            "report the signer as untrusted; set C2PA_CERT_CHAIN_PATH and C2PA_PRIVATE_KEY_PATH in production.",
            paths.directory,
        )
    return SigningCredentials(
        cert_chain_pem=paths.chain.read_bytes(),
        private_key_pem=paths.private_key.read_bytes(),
        trust_anchors_pem=_configured_trust_anchors() + paths.ca_cert.read_bytes(),
        is_development=True,
    )


def verification_trust_anchors_pem() -> bytes:
    """Roots verification trusts: C2PA_TRUST_ANCHORS_PATH plus the dev root when one exists on this machine."""
    anchors = _configured_trust_anchors()
    dev_root = dev_ca_paths().ca_cert
    if dev_root.exists():
        anchors += dev_root.read_bytes()
    return anchors


def dev_ca_ensure_unless_configured() -> DevCAPaths | None:
    """For `make run`: make sure signing works out of the box. None when a real certificate is configured."""
    if getattr(settings, "C2PA_CERT_CHAIN_PATH", "") or getattr(settings, "C2PA_PRIVATE_KEY_PATH", ""):
        return None
    return dev_ca_ensure()
