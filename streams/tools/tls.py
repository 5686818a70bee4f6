"""A local certificate authority for the secured local broker: its CA, the broker's certificate, clients' ones.

The secured local broker encrypts every connection (TLS 1.2 at least, 1.3 preferred). Its certificates come
from a CA made once in the broker's folder: the CA certificate is what clients trust (`DT_SSL_CAFILE`); the
broker's certificate names 127.0.0.1 and localhost, so clients check the host name as they would in production;
each principal may get a client certificate whose common name is its Kafka principal (the `SSL` protocol,
for shops that authenticate by mutual TLS). Keys are EC P-256, written 0600; the folder is 0700.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: the local CA's name; a client certificate's subject is CN=<principal>,O=<this>
ORGANIZATION = "detainer-tracker local broker"
#: the CA certificate's file in the CA's folder: what clients trust
CA_FILE = "ca.pem"
#: how long the certificates made here are valid (the CA a little longer)
VALID_DAYS = 825


@dataclass(frozen=True)
class Issued:
    """Where one certificate and its key were written: `pem` holds the key and the certificate chain."""

    pem: Path
    cert: Path
    key: Path

    @classmethod
    def at(cls, folder: Path, stem: str) -> Issued:
        """Where the certificate STEM of the CA in `folder` is written (whether or not it is yet)."""
        return cls(folder / f"{stem}.pem", folder / f"{stem}.crt", folder / f"{stem}.key")

    @property
    def exists(self) -> bool:
        """True when its certificate and key have been written."""
        return self.cert.exists() and self.key.exists()


class LocalCA:
    """The CA in `folder` (made on first use), issuing the broker's and clients' certificates."""

    def __init__(self, folder: Path) -> None:
        """Load the CA of `folder`, making it when the folder has none."""
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        if not (self.cert_file.exists() and self._key_file.exists()):
            self._make()
        self._key = serialization.load_pem_private_key(self._key_file.read_bytes(), password=None)
        self._cert = x509.load_pem_x509_certificate(self.cert_file.read_bytes())

    @property
    def cert_file(self) -> Path:
        """The CA certificate (PEM): what a client trusts."""
        return self.folder / CA_FILE

    @property
    def _key_file(self) -> Path:
        return self.folder / "ca.key"

    def _make(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                          x509.NameAttribute(NameOID.COMMON_NAME, f"{ORGANIZATION} CA")])
        now = datetime.now(UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=VALID_DAYS + 30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                                             key_cert_sign=True, crl_sign=True, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        _write_secret(self._key_file, _key_pem(key))
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem: str, common_name: str, hosts: tuple[str, ...] = (), server: bool = False) -> Issued:
        """A certificate for `common_name` (and `hosts` as its subject alternative names), written as STEM.*."""
        key = ec.generate_private_key(ec.SECP256R1())
        # most significant first, so that the RFC 2253 form Kafka matches reads CN=<name>,O=<organization>
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                             x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.now(UTC)
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if server else [])
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(self._cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=VALID_DAYS))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                                key_encipherment=False, data_encipherment=False, key_agreement=True,
                                                key_cert_sign=False, crl_sign=False, encipher_only=False,
                                                decipher_only=False), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                                  critical=False))
        if hosts:
            builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(h) for h in hosts]),
                                            critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        chain = cert_pem + self.cert_file.read_bytes()
        issued = Issued.at(self.folder, stem)
        _write_secret(issued.key, _key_pem(key))
        _write_secret(issued.pem, _key_pem(key) + chain)
        issued.cert.write_bytes(chain)
        return issued


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # PKCS#8, unencrypted: what Kafka's PEM key store reads when no key password is set
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_secret(path: Path, data: bytes) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_bytes(data)
