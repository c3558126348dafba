"""Per-card attestation: a card CA, the slot-F9 attestation key and certificate, and ATTEST.

A YubiKey ships with an attestation key in slot F9 whose certificate (object 5FFF01) chains to
Yubico's root; ATTEST (00 F9) returns a certificate for a slot's public key signed by the F9 key,
with Yubico's extensions (1.3.6.1.4.1.41482.3.x: firmware, serial, PIN/touch policy, form
factor). Here the chain ends at a root made per card, so nothing real is ever impersonated.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from virtualpiv.keys import ECCP256, ORIGIN_GENERATED, PIN_NEVER, TOUCH_NEVER, SlotKey

YUBICO_ARC = "1.3.6.1.4.1.41482.3"
OID_FIRMWARE, OID_SERIAL, OID_POLICY, OID_FORM_FACTOR = (
    x509.ObjectIdentifier(f"{YUBICO_ARC}.{n}") for n in (3, 7, 8, 9)
)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Attestor:
    """The card's attestation root, its F9 key/certificate, and certificates for slot keys."""

    def __init__(self, serial: int, version: tuple[int, int, int]) -> None:
        self.serial = serial
        self.version = version
        now = dt.datetime.now(dt.timezone.utc)
        self.not_before, self.not_after = now - dt.timedelta(days=1), now + dt.timedelta(days=3650)
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = _name("virtualpiv attestation root")
        self.root = (
            self._builder(root_name, root_name, self.root_key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.root_key, hashes.SHA256())
        )
        self.f9 = SlotKey(ECCP256, ec.generate_private_key(ec.SECP256R1()), PIN_NEVER, TOUCH_NEVER, ORIGIN_GENERATED)
        f9_builder = self._builder(_name("virtualpiv PIV Attestation"), root_name, self.f9.public_key())
        self.f9_cert = f9_builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(
            self.root_key, hashes.SHA256()
        )

    def _builder(self, subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.not_before)
            .not_valid_after(self.not_after)
        )

    def attest(self, slot: int, key: SlotKey) -> x509.Certificate:
        """The certificate ATTEST returns for ``key`` in ``slot``."""
        serial = self.serial.to_bytes(4, "big").lstrip(b"\0") or b"\0"
        if serial[0] & 0x80:
            serial = b"\0" + serial
        extensions = [
            (OID_FIRMWARE, bytes(self.version)),
            (OID_SERIAL, b"\x02" + bytes([len(serial)]) + serial),  # DER INTEGER
            (OID_POLICY, bytes([key.pin_policy, key.touch_policy])),
            (OID_FORM_FACTOR, b"\x01"),  # USB-A keychain
        ]
        builder = self._builder(_name(f"YubiKey PIV Attestation {slot:02x}"), self.f9_cert.subject, key.public_key())
        for oid, value in extensions:
            builder = builder.add_extension(x509.UnrecognizedExtension(oid, value), critical=False)
        return builder.sign(self.f9.private, hashes.SHA256())
