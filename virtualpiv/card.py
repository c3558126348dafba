"""A PIV card (NIST SP 800-73-4 card edge) with the Yubico extensions ykcs11 and yubico-piv-tool use.

The card is a pure function of its state and the command APDU: :meth:`PivCard.transmit` takes
one APDU and returns the response APDU. Command chaining (CLA 10), response chaining (61xx +
GET RESPONSE) and extended lengths are handled here, so the transport (vpcd.py) only moves
bytes. Every command is recorded in :attr:`PivCard.log` (secrets redacted) so tests can count
what a PKCS#11 module sent: VERIFYs per run, ATTESTs, GET METADATAs, card scans.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from virtualpiv import tlv
from virtualpiv.attestation import Attestor
from virtualpiv.keys import (
    EC_CURVES,
    ORIGIN_IMPORTED,
    PIN_ALWAYS,
    PIN_NEVER,
    PIN_ONCE,
    RSA_BITS,
    TOUCH_ALWAYS,
    TOUCH_CACHED,
    TOUCH_NEVER,
    KeyOperationError,
    SlotKey,
)

PIV_AID = bytes.fromhex("A000000308000010000100")
PIV_AID_PREFIX = bytes.fromhex("A000000308")
YUBIKEY_5_ATR = bytes.fromhex("3BFD1300008131FE158073C021C057597562694B657940")
DEFAULT_MGMT_KEY = bytes.fromhex("010203040506070801020304050607080102030405060708")
DEFAULT_PIN, DEFAULT_PUK = b"123456", b"12345678"

MGMT_3DES, MGMT_AES128, MGMT_AES192, MGMT_AES256 = 0x03, 0x08, 0x0A, 0x0C
MGMT_KEY_SIZES = {MGMT_3DES: 24, MGMT_AES128: 16, MGMT_AES192: 24, MGMT_AES256: 32}
KEY_SLOTS = (0x9A, 0x9C, 0x9D, 0x9E, *range(0x82, 0x96))
REF_PIN, REF_PUK, REF_MGMT, SLOT_ATTESTATION = 0x80, 0x81, 0x9B, 0xF9
DEFAULT_PIN_POLICY = {0x9A: PIN_ONCE, 0x9C: PIN_ALWAYS, 0x9D: PIN_ONCE, 0x9E: PIN_NEVER}
"""What a YubiKey applies when the host asks for the default policy (00): 9c signs only with a fresh PIN."""
OBJ_ATTESTATION_CERT = 0x5FFF01
OBJ_DISCOVERY = 0x7E
SECRET_INS = {0x20, 0x24, 0x2C, 0xFF, 0x87, 0xFE, 0xDB}
"""Commands whose data may be a secret or key material: the log keeps their header and length only.
PUT DATA is among them because yubico-piv-tool's PIN-protected mode stores the management key
in a data object (5FC109)."""

SW_OK = 0x9000
SW_WRONG_LENGTH, SW_SECURITY, SW_BLOCKED, SW_CONDITIONS = 0x6700, 0x6982, 0x6983, 0x6985
SW_BAD_DATA, SW_NOT_FOUND, SW_BAD_P1P2, SW_NO_REFERENCE = 0x6A80, 0x6A82, 0x6A86, 0x6A88
SW_BAD_INS, SW_BAD_CLA = 0x6D00, 0x6E00


class CardError(Exception):
    """Ends a command with a status word."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"{sw:04X}")
        self.sw = sw


@dataclass(frozen=True)
class Exchange:
    """One command the card answered: header, data length (data only when not secret), status."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes | None
    length: int
    sw: int

    def __str__(self) -> str:
        shown = "<redacted>" if self.data is None else self.data.hex()
        return f"{self.cla:02X} {self.ins:02X} {self.p1:02X} {self.p2:02X} [{self.length}] {shown} -> {self.sw:04X}"


@dataclass
class Apdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int | None
    extended: bool

    @classmethod
    def parse(cls, raw: bytes) -> Apdu:
        if len(raw) < 4:
            raise CardError(SW_WRONG_LENGTH)
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        data, le, extended = b"", None, False
        if len(body) == 1:
            le = body[0] or 256
        elif len(body) >= 3 and body[0] == 0:
            extended = True
            if len(body) == 3:
                le = int.from_bytes(body[1:3], "big") or 65536
            else:
                lc = int.from_bytes(body[1:3], "big")
                data, rest = body[3 : 3 + lc], body[3 + lc :]
                if len(data) != lc or len(rest) not in (0, 2):
                    raise CardError(SW_WRONG_LENGTH)
                le = (int.from_bytes(rest, "big") or 65536) if rest else None
        elif body:
            lc = body[0]
            data, rest = body[1 : 1 + lc], body[1 + lc :]
            if len(data) != lc or len(rest) > 1:
                raise CardError(SW_WRONG_LENGTH)
            le = (rest[0] or 256) if rest else None
        return cls(cla, ins, p1, p2, data, le, extended)


@dataclass
class Secret:
    """A PIN or PUK with its retry counter."""

    value: bytes
    default: bytes
    retries: int
    remaining: int = -1

    def __post_init__(self) -> None:
        if self.remaining < 0:
            self.remaining = self.retries

    def check(self, candidate: bytes) -> None:
        """Compare and count: a wrong value costs one try; a blocked secret answers 6983."""
        if self.remaining == 0:
            raise CardError(SW_BLOCKED)
        if candidate != self.value:
            self.remaining -= 1
            raise CardError(SW_BLOCKED if self.remaining == 0 else 0x63C0 | self.remaining)
        self.remaining = self.retries


def _unpad(block: bytes) -> bytes:
    """A PIN/PUK field: up to 8 bytes, padded with FF."""
    if len(block) != 8:
        raise CardError(SW_BAD_DATA)
    return block.rstrip(b"\xff")


@dataclass
class PivCard:
    """The card's state and its command interpreter. ``sleep`` is injectable for the touch delay."""

    serial: int = 0x01A2B3C4
    version: tuple[int, int, int] = (5, 4, 3)
    pin: bytes = DEFAULT_PIN
    puk: bytes = DEFAULT_PUK
    management_key: bytes = DEFAULT_MGMT_KEY
    management_algorithm: int = MGMT_3DES
    pin_retries: int = 3
    touch_delay: float = 0.0
    sleep: Callable[[float], None] = time.sleep
    atr: bytes = YUBIKEY_5_ATR
    log: list[Exchange] = field(default_factory=list)
    touches: int = 0

    def __post_init__(self) -> None:
        self._pin = Secret(self.pin, DEFAULT_PIN, self.pin_retries)
        self._puk = Secret(self.puk, DEFAULT_PUK, self.pin_retries)
        self.keys: dict[int, SlotKey] = {}
        self.objects: dict[int, bytes] = {}
        self.attestor = Attestor(self.serial, self.version)
        cert = self.attestor.f9_cert.public_bytes(serialization.Encoding.DER)
        self.objects[OBJ_ATTESTATION_CERT] = tlv.encode(0x70, cert) + tlv.encode(0x71, b"\0") + tlv.encode(0xFE, b"")
        self._lock = threading.RLock()
        self.power(True)

    # ----- session state -----
    def power(self, on: bool) -> None:
        """Power on, off or reset: every security state and half-done exchange is lost."""
        with self._lock:
            self.selected = False
            self.pin_verified = False
            self.pin_fresh = False
            self.mgmt_authenticated = False
            self.touch_cached = False
            self._challenge: tuple[str, bytes] | None = None
            self._chain: tuple[int, int, int, bytes] | None = None
            self._pending = b""

    @property
    def pin_remaining(self) -> int:
        return self._pin.remaining

    def count(self, ins: int, p1: int | None = None, p2: int | None = None) -> int:
        """How many logged commands had this INS (and P1/P2 when given)."""
        return sum(1 for e in self.log if e.ins == ins and (p1 is None or e.p1 == p1) and (p2 is None or e.p2 == p2))

    def census(self) -> Counter:
        return Counter(e.ins for e in self.log)

    # ----- transport entry -----
    def transmit(self, raw: bytes) -> bytes:
        """One command APDU in, one response APDU out (data + SW1 SW2)."""
        with self._lock:
            apdu = None
            try:
                apdu = Apdu.parse(raw)
                data, sw = self._dispatch(apdu), SW_OK
            except CardError as error:
                data, sw = b"", error.sw
            out = self._respond(apdu, data, sw)
            if apdu is not None:
                secret = apdu.ins in SECRET_INS
                self.log.append(
                    Exchange(
                        apdu.cla,
                        apdu.ins,
                        apdu.p1,
                        apdu.p2,
                        None if secret else apdu.data,
                        len(apdu.data),
                        int.from_bytes(out[-2:], "big"),
                    )
                )
            return out

    def _respond(self, apdu: Apdu | None, data: bytes, sw: int) -> bytes:
        """Send what fits (256 bytes for short APDUs); keep the rest for GET RESPONSE (61xx)."""
        limit = 256 if apdu is None or not apdu.extended else (apdu.le or 65536)
        if apdu is not None and apdu.le is not None:
            limit = min(limit, apdu.le)
        if sw == SW_OK and len(data) > limit:
            self._pending = data[limit:]
            rest = len(self._pending)
            return data[:limit] + bytes([0x61, rest if rest < 256 else 0])
        return data + sw.to_bytes(2, "big")

    def _dispatch(self, apdu: Apdu) -> bytes:
        if apdu.ins == 0xC0:
            return self._get_response()
        self._pending = b""
        if apdu.cla & 0xEF != 0x00:  # only the chaining bit may be set
            raise CardError(SW_BAD_CLA)
        if apdu.cla & 0x10:
            self._collect_chain(apdu)
            return b""
        if self._chain is not None:
            ins, p1, p2, head = self._chain
            self._chain = None
            if (ins, p1, p2) == (apdu.ins, apdu.p1, apdu.p2):
                apdu.data = head + apdu.data
        handler = self._HANDLERS.get(apdu.ins)
        if handler is None:
            raise CardError(SW_BAD_INS)
        return handler(self, apdu)

    def _collect_chain(self, apdu: Apdu) -> None:
        if self._chain is not None and self._chain[:3] == (apdu.ins, apdu.p1, apdu.p2):
            self._chain = (apdu.ins, apdu.p1, apdu.p2, self._chain[3] + apdu.data)
        else:
            self._chain = (apdu.ins, apdu.p1, apdu.p2, apdu.data)

    def _get_response(self) -> bytes:
        if not self._pending:
            raise CardError(0x6F00)
        data, self._pending = self._pending, b""
        return data

    # ----- ISO / PIV commands -----
    def _select(self, apdu: Apdu) -> bytes:
        if apdu.p1 != 0x04:
            raise CardError(SW_BAD_P1P2)
        if not apdu.data or not PIV_AID.startswith(apdu.data) or len(apdu.data) < len(PIV_AID_PREFIX):
            raise CardError(SW_NOT_FOUND)  # another application (e.g. Yubico's OTP or management AID)
        self.selected = True
        # The application property template: the PIX (AID without its RID) and the authority's RID.
        return tlv.encode(0x61, tlv.encode(0x4F, PIV_AID[5:]) + tlv.encode(0x79, tlv.encode(0x4F, PIV_AID_PREFIX)))

    def _data_tag(self, data: bytes) -> int:
        try:
            fields = tlv.decode(data)
        except tlv.TlvError:
            raise CardError(SW_BAD_DATA) from None
        if not fields or fields[0][0] != 0x5C or not 1 <= len(fields[0][1]) <= 3:
            raise CardError(SW_BAD_DATA)
        return int.from_bytes(fields[0][1], "big")

    def _get_data(self, apdu: Apdu) -> bytes:
        if (apdu.p1, apdu.p2) != (0x3F, 0xFF):
            raise CardError(SW_BAD_P1P2)
        tag = self._data_tag(apdu.data)
        if tag == OBJ_DISCOVERY:
            return tlv.encode(0x7E, tlv.encode(0x4F, PIV_AID) + tlv.encode(0x5F2F, b"\x40\x00"))
        content = self.objects.get(tag)
        if content is None:
            raise CardError(SW_NOT_FOUND)
        return tlv.encode(0x53, content)

    def _put_data(self, apdu: Apdu) -> bytes:
        if (apdu.p1, apdu.p2) != (0x3F, 0xFF):
            raise CardError(SW_BAD_P1P2)
        if not self.mgmt_authenticated:
            raise CardError(SW_SECURITY)
        try:
            fields = tlv.decode(apdu.data)
        except tlv.TlvError:
            raise CardError(SW_BAD_DATA) from None
        tag = self._data_tag(apdu.data)
        if tag == OBJ_DISCOVERY or len(fields) != 2 or fields[1][0] != 0x53:
            raise CardError(SW_BAD_DATA)
        if fields[1][1]:
            self.objects[tag] = fields[1][1]
        else:
            self.objects.pop(tag, None)
        return b""

    def _verify(self, apdu: Apdu) -> bytes:
        if apdu.p1 == 0xFF and apdu.p2 == REF_PIN and not apdu.data:  # logout
            self.pin_verified = self.pin_fresh = False
            return b""
        if apdu.p1 != 0x00 or apdu.p2 != REF_PIN:
            raise CardError(SW_NO_REFERENCE)
        if not apdu.data:  # status query: no try is spent
            if self._pin.remaining == 0:
                raise CardError(SW_BLOCKED)
            if self.pin_verified:
                return b""
            raise CardError(0x63C0 | self._pin.remaining)
        self.pin_verified = self.pin_fresh = False
        self._pin.check(_unpad(apdu.data))
        self.pin_verified = self.pin_fresh = True
        return b""

    def _secret(self, reference: int) -> Secret:
        if reference == REF_PIN:
            return self._pin
        if reference == REF_PUK:
            return self._puk
        raise CardError(SW_NO_REFERENCE)

    def _change_reference(self, apdu: Apdu) -> bytes:
        secret = self._secret(apdu.p2)
        if apdu.p1 != 0x00 or len(apdu.data) != 16:
            raise CardError(SW_BAD_DATA)
        old, new = _unpad(apdu.data[:8]), _unpad(apdu.data[8:])
        if len(new) < 6:
            raise CardError(SW_BAD_DATA)
        secret.check(old)
        secret.value = new
        if apdu.p2 == REF_PIN:
            self.pin_verified = self.pin_fresh = True
        return b""

    def _reset_retry(self, apdu: Apdu) -> bytes:
        if (apdu.p1, apdu.p2) != (0x00, REF_PIN) or len(apdu.data) != 16:
            raise CardError(SW_BAD_DATA)
        puk, new = _unpad(apdu.data[:8]), _unpad(apdu.data[8:])
        if len(new) < 6:
            raise CardError(SW_BAD_DATA)
        self._puk.check(puk)
        self._pin.value, self._pin.remaining = new, self._pin.retries
        return b""

    def _key_slot(self, slot: int) -> None:
        if slot not in KEY_SLOTS:
            raise CardError(SW_NOT_FOUND)

    def _policies(self, fields: dict[int, bytes], slot: int) -> tuple[int, int]:
        pin = fields.get(0xAA, b"\0")[0] or DEFAULT_PIN_POLICY.get(slot, PIN_ONCE)
        touch = fields.get(0xAB, b"\0")[0] or TOUCH_NEVER
        if pin not in (PIN_NEVER, PIN_ONCE, PIN_ALWAYS) or touch not in (TOUCH_NEVER, TOUCH_ALWAYS, TOUCH_CACHED):
            raise CardError(SW_BAD_DATA)
        return pin, touch

    def _generate(self, apdu: Apdu) -> bytes:
        if not self.mgmt_authenticated:
            raise CardError(SW_SECURITY)
        self._key_slot(apdu.p2)
        try:
            outer = tlv.as_dict(apdu.data)
            template = tlv.as_dict(outer[0xAC])
            algorithm = template[0x80][0]
        except (tlv.TlvError, KeyError, IndexError):
            raise CardError(SW_BAD_DATA) from None
        if algorithm not in RSA_BITS and algorithm not in EC_CURVES:
            raise CardError(SW_BAD_DATA)
        pin, touch = self._policies(template, apdu.p2)
        key = SlotKey.generate(algorithm, pin, touch)
        self.keys[apdu.p2] = key
        return tlv.encode(0x7F49, key.public_tlvs())

    def _import_key(self, apdu: Apdu) -> bytes:
        if not self.mgmt_authenticated:
            raise CardError(SW_SECURITY)
        self._key_slot(apdu.p2)
        try:
            fields = tlv.as_dict(apdu.data)
            pin, touch = self._policies(fields, apdu.p2)
            self.keys[apdu.p2] = SlotKey.from_import(apdu.p1, fields, pin, touch)
        except (tlv.TlvError, KeyOperationError, ValueError):
            raise CardError(SW_BAD_DATA) from None
        return b""

    def _mgmt_cipher(self, encrypt: bool, block: bytes) -> bytes:
        key = self.management_key
        algorithm = TripleDES(key) if self.management_algorithm == MGMT_3DES else algorithms.AES(key)
        cipher = Cipher(algorithm, modes.ECB())
        op = cipher.encryptor() if encrypt else cipher.decryptor()
        return op.update(block) + op.finalize()

    def _mgmt_authenticate(self, apdu: Apdu, fields: dict[int, bytes]) -> bytes:
        """Mutual (80 witness / 81 challenge) or one-way (81 challenge / 82 response) authentication."""
        if apdu.p1 != self.management_algorithm:
            raise CardError(SW_BAD_P1P2)
        size = 8 if self.management_algorithm == MGMT_3DES else 16
        state, self._challenge = self._challenge, None
        if fields.get(0x80) == b"":
            witness = os.urandom(size)
            self._challenge = ("witness", witness)
            return tlv.encode(0x7C, tlv.encode(0x80, self._mgmt_cipher(True, witness)))
        if 0x80 in fields and 0x81 in fields:
            if state is None or state[0] != "witness" or fields[0x80] != state[1] or len(fields[0x81]) != size:
                raise CardError(SW_SECURITY)
            self.mgmt_authenticated = True
            return tlv.encode(0x7C, tlv.encode(0x82, self._mgmt_cipher(True, fields[0x81])))
        if fields.get(0x81) == b"":
            challenge = os.urandom(size)
            self._challenge = ("challenge", challenge)
            return tlv.encode(0x7C, tlv.encode(0x81, challenge))
        if 0x82 in fields:
            if state is None or state[0] != "challenge" or fields[0x82] != self._mgmt_cipher(True, state[1]):
                raise CardError(SW_SECURITY)
            self.mgmt_authenticated = True
            return b""
        raise CardError(SW_BAD_DATA)

    def _general_authenticate(self, apdu: Apdu) -> bytes:
        try:
            outer = tlv.decode(apdu.data)
            if len(outer) != 1 or outer[0][0] != 0x7C:
                raise CardError(SW_BAD_DATA)
            fields = tlv.as_dict(outer[0][1])
        except tlv.TlvError:
            raise CardError(SW_BAD_DATA) from None
        if apdu.p2 == REF_MGMT:
            return self._mgmt_authenticate(apdu, fields)
        key = self.keys.get(apdu.p2)
        if apdu.p2 not in KEY_SLOTS or key is None:
            raise CardError(SW_NOT_FOUND)
        if apdu.p1 != key.algorithm:
            raise CardError(SW_BAD_P1P2)
        if 0x82 not in fields or (0x81 not in fields and 0x85 not in fields):
            raise CardError(SW_BAD_DATA)
        self._authorize(key)
        try:
            result = key.sign(fields[0x81]) if 0x81 in fields else key.ecdh(fields[0x85])
        except KeyOperationError:
            raise CardError(SW_BAD_DATA) from None
        return tlv.encode(0x7C, tlv.encode(0x82, result))

    def _authorize(self, key: SlotKey) -> None:
        """PIN policy (always = a VERIFY right before, consumed here) and simulated touch."""
        if key.pin_policy == PIN_ONCE and not self.pin_verified:
            raise CardError(SW_SECURITY)
        if key.pin_policy == PIN_ALWAYS:
            if not self.pin_fresh:
                raise CardError(SW_SECURITY)
            self.pin_fresh = False
        if key.touch_policy == TOUCH_ALWAYS or (key.touch_policy == TOUCH_CACHED and not self.touch_cached):
            self.touches += 1
            if self.touch_delay:
                self.sleep(self.touch_delay)
            self.touch_cached = key.touch_policy == TOUCH_CACHED

    # ----- Yubico extensions -----
    def _get_version(self, apdu: Apdu) -> bytes:
        return bytes(self.version)

    def _get_serial(self, apdu: Apdu) -> bytes:
        return self.serial.to_bytes(4, "big")

    def _get_metadata(self, apdu: Apdu) -> bytes:
        slot = apdu.p2
        if slot in (REF_PIN, REF_PUK):
            secret = self._secret(slot)
            return (
                tlv.encode(0x01, b"\xff")
                + tlv.encode(0x05, bytes([secret.value == secret.default]))
                + tlv.encode(0x06, bytes([secret.retries, secret.remaining]))
            )
        if slot == REF_MGMT:
            default = self.management_key == DEFAULT_MGMT_KEY
            return (
                tlv.encode(0x01, bytes([self.management_algorithm]))
                + tlv.encode(0x02, bytes([0x00, TOUCH_NEVER]))
                + tlv.encode(0x05, bytes([default]))
            )
        key = self.attestor.f9 if slot == SLOT_ATTESTATION else self.keys.get(slot)
        if key is None:
            raise CardError(SW_NOT_FOUND)
        return (
            tlv.encode(0x01, bytes([key.algorithm]))
            + tlv.encode(0x02, bytes([key.pin_policy, key.touch_policy]))
            + tlv.encode(0x03, bytes([key.origin]))
            + tlv.encode(0x04, key.public_tlvs())
        )

    def _attest(self, apdu: Apdu) -> bytes:
        key = self.keys.get(apdu.p1)
        if apdu.p1 not in KEY_SLOTS or key is None:
            raise CardError(SW_NOT_FOUND)
        if key.origin == ORIGIN_IMPORTED:
            raise CardError(SW_BAD_DATA)  # only keys born on the card can be attested
        return self.attestor.attest(apdu.p1, key).public_bytes(serialization.Encoding.DER)

    def _set_management_key(self, apdu: Apdu) -> bytes:
        if not self.mgmt_authenticated:
            raise CardError(SW_SECURITY)
        data = apdu.data
        if apdu.p1 != 0xFF or apdu.p2 not in (0xFF, 0xFE) or len(data) < 3 or data[1] != REF_MGMT:
            raise CardError(SW_BAD_DATA)
        algorithm, size = data[0], data[2]
        if MGMT_KEY_SIZES.get(algorithm) != size or len(data) != 3 + size:
            raise CardError(SW_BAD_DATA)
        self.management_algorithm, self.management_key = algorithm, bytes(data[3:])
        return b""

    def _set_pin_retries(self, apdu: Apdu) -> bytes:
        if not (self.mgmt_authenticated and self.pin_verified) or not apdu.p1 or not apdu.p2:
            raise CardError(SW_SECURITY)
        self._pin = Secret(DEFAULT_PIN, DEFAULT_PIN, apdu.p1)
        self._puk = Secret(DEFAULT_PUK, DEFAULT_PUK, apdu.p2)
        return b""

    def _reset(self, apdu: Apdu) -> bytes:
        if self._pin.remaining or self._puk.remaining:
            raise CardError(SW_CONDITIONS)
        self._pin = Secret(DEFAULT_PIN, DEFAULT_PIN, 3)
        self._puk = Secret(DEFAULT_PUK, DEFAULT_PUK, 3)
        self.management_key, self.management_algorithm = DEFAULT_MGMT_KEY, MGMT_3DES
        self.keys.clear()
        attestation = self.objects[OBJ_ATTESTATION_CERT]
        self.objects = {OBJ_ATTESTATION_CERT: attestation}
        self.power(True)
        return b""

    _HANDLERS: ClassVar[dict[int, Callable[[PivCard, Apdu], bytes]]] = {
        0xA4: _select,
        0xCB: _get_data,
        0xDB: _put_data,
        0x20: _verify,
        0x24: _change_reference,
        0x2C: _reset_retry,
        0x47: _generate,
        0x87: _general_authenticate,
        0xFE: _import_key,
        0xFD: _get_version,
        0xF8: _get_serial,
        0xF7: _get_metadata,
        0xF9: _attest,
        0xFF: _set_management_key,
        0xFA: _set_pin_retries,
        0xFB: _reset,
    }
