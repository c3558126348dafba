"""The virtual PIV card's command interpreter, in process (no pcscd): what the modules rely on.

A host side written here from SP 800-73-4 and Yubico's documented extensions drives the card;
signatures are verified with cryptography against the public keys the card returned.
"""

from __future__ import annotations

import os

import pytest
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from virtualpiv import tlv
from virtualpiv.attestation import OID_POLICY
from virtualpiv.card import DEFAULT_MGMT_KEY, MGMT_AES128, PivCard
from virtualpiv.keys import ECCP256, ECCP384, RSA2048, SlotKey

PIN = b"123456"


def apdu(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
    raw = bytes([cla, ins, p1, p2])
    if data:
        raw += bytes([len(data)]) + data
    if le is not None:
        raw += bytes([le & 0xFF])
    return raw


def send(card: PivCard, ins: int, p1: int, p2: int, data: bytes = b"") -> tuple[bytes, int]:
    """Like ykpiv: command chaining in 255-byte blocks, then GET RESPONSE while the card says 61xx."""
    while len(data) > 255:
        out = card.transmit(apdu(0x10, ins, p1, p2, data[:255]))
        assert out == b"\x90\x00"
        data = data[255:]
    out = card.transmit(apdu(0x00, ins, p1, p2, data, le=0))
    body = out[:-2]
    while out[-2] == 0x61:
        out = card.transmit(apdu(0x00, 0xC0, 0x00, 0x00, le=0))
        body += out[:-2]
    return body, int.from_bytes(out[-2:], "big")


def ok(card: PivCard, ins: int, p1: int, p2: int, data: bytes = b"") -> bytes:
    body, sw = send(card, ins, p1, p2, data)
    assert sw == 0x9000, f"{sw:04X}"
    return body


def pin_block(pin: bytes) -> bytes:
    return pin.ljust(8, b"\xff")


def authenticate(card: PivCard, key: bytes = DEFAULT_MGMT_KEY, algorithm: int = 0x03) -> int:
    """Mutual management-key authentication as yubico-piv-tool does it; returns the final SW."""
    size = 8 if algorithm == 0x03 else 16
    cipher = Cipher(TripleDES(key) if algorithm == 0x03 else algorithms.AES(key), modes.ECB())
    witness_tlv = ok(card, 0x87, algorithm, 0x9B, tlv.encode(0x7C, tlv.encode(0x80, b"")))
    encrypted = tlv.as_dict(tlv.as_dict(witness_tlv)[0x7C])[0x80]
    decryptor = cipher.decryptor()
    witness = decryptor.update(encrypted) + decryptor.finalize()
    challenge = os.urandom(size)
    answer = tlv.encode(0x7C, tlv.encode(0x80, witness) + tlv.encode(0x81, challenge))
    body, sw = send(card, 0x87, algorithm, 0x9B, answer)
    if sw == 0x9000:
        encryptor = cipher.encryptor()
        assert tlv.as_dict(tlv.as_dict(body)[0x7C])[0x82] == encryptor.update(challenge) + encryptor.finalize()
    return sw


def generate(card: PivCard, slot: int, algorithm: int, pin_policy: int = 0, touch_policy: int = 0):
    template = tlv.encode(0x80, bytes([algorithm]))
    if pin_policy:
        template += tlv.encode(0xAA, bytes([pin_policy]))
    if touch_policy:
        template += tlv.encode(0xAB, bytes([touch_policy]))
    fields = tlv.as_dict(tlv.as_dict(ok(card, 0x47, 0x00, slot, tlv.encode(0xAC, template)))[0x7F49])
    if algorithm == RSA2048:
        exponent, modulus = (int.from_bytes(fields[tag], "big") for tag in (0x82, 0x81))
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    curve = ec.SECP256R1() if algorithm == ECCP256 else ec.SECP384R1()
    return ec.EllipticCurvePublicKey.from_encoded_point(curve, fields[0x86])


def sign(card: PivCard, slot: int, algorithm: int, data: bytes) -> tuple[bytes, int]:
    body, sw = send(card, 0x87, algorithm, slot, tlv.encode(0x7C, tlv.encode(0x82, b"") + tlv.encode(0x81, data)))
    return (tlv.as_dict(tlv.as_dict(body)[0x7C])[0x82] if sw == 0x9000 else b""), sw


def rsa_block(message: bytes) -> bytes:
    """EMSA-PKCS1-v1_5 for SHA-256, as a PKCS#11 module pads before sending it to the card."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(message)
    info = bytes.fromhex("3031300d060960864801650304020105000420") + digest.finalize()
    return b"\x00\x01" + b"\xff" * (256 - len(info) - 3) + b"\x00" + info


@pytest.fixture
def card() -> PivCard:
    made = PivCard()
    ok(made, 0xA4, 0x04, 0x00, bytes.fromhex("A000000308"))
    return made


def test_select_answers_the_application_property_template():
    card = PivCard()
    body = ok(card, 0xA4, 0x04, 0x00, bytes.fromhex("A00000030800001000"))
    template = tlv.as_dict(tlv.as_dict(body)[0x61])
    assert template[0x4F] == bytes.fromhex("000010000100")
    assert tlv.as_dict(template[0x79])[0x4F] == bytes.fromhex("A000000308")
    assert send(card, 0xA4, 0x04, 0x00, bytes.fromhex("A0000005272001"))[1] == 0x6A82


def test_verify_status_query_padding_retry_counter_and_block(card):
    assert send(card, 0x20, 0x00, 0x80)[1] == 0x63C3  # not verified, 3 tries, none spent
    assert send(card, 0x20, 0x00, 0x80, pin_block(b"000000"))[1] == 0x63C2
    assert send(card, 0x20, 0x00, 0x80)[1] == 0x63C2
    assert send(card, 0x20, 0x00, 0x80, PIN)[1] == 0x6A80  # not FF-padded to 8 bytes
    ok(card, 0x20, 0x00, 0x80, pin_block(PIN))
    assert send(card, 0x20, 0x00, 0x80)[1] == 0x9000 and card.pin_remaining == 3
    ok(card, 0x20, 0xFF, 0x80)  # Yubico logout
    assert send(card, 0x20, 0x00, 0x80)[1] == 0x63C3
    for expected in (0x63C2, 0x63C1, 0x6983, 0x6983):
        assert send(card, 0x20, 0x00, 0x80, pin_block(b"999999"))[1] == expected
    assert send(card, 0x20, 0x00, 0x80, pin_block(PIN))[1] == 0x6983  # blocked: even the right PIN fails
    assert send(card, 0x20, 0x00, 0x80)[1] == 0x6983
    ok(card, 0x2C, 0x00, 0x80, pin_block(b"12345678") + pin_block(b"654321"))  # RESET RETRY with the PUK
    ok(card, 0x20, 0x00, 0x80, pin_block(b"654321"))


def test_change_reference_data_checks_the_old_pin(card):
    assert send(card, 0x24, 0x00, 0x80, pin_block(b"000000") + pin_block(b"222222"))[1] == 0x63C2
    ok(card, 0x24, 0x00, 0x80, pin_block(PIN) + pin_block(b"222222"))
    ok(card, 0x20, 0x00, 0x80, pin_block(b"222222"))
    assert card.pin_remaining == 3


def test_management_key_gates_provisioning(card):
    assert send(card, 0x47, 0x00, 0x9A, tlv.encode(0xAC, tlv.encode(0x80, bytes([ECCP256]))))[1] == 0x6982
    assert authenticate(card, key=bytes(24)) == 0x6982
    assert authenticate(card) == 0x9000
    generate(card, 0x9A, ECCP256)


def test_aes_management_key():
    key = bytes(range(16))
    card = PivCard(management_key=key, management_algorithm=MGMT_AES128)
    assert send(card, 0x87, 0x03, 0x9B, tlv.encode(0x7C, tlv.encode(0x80, b"")))[1] == 0x6A86  # wrong algorithm
    assert authenticate(card, key=key, algorithm=MGMT_AES128) == 0x9000
    metadata = tlv.as_dict(ok(card, 0xF7, 0x00, 0x9B))
    assert metadata[0x01] == bytes([MGMT_AES128]) and metadata[0x05] == b"\x00"


def test_put_data_with_chaining_and_get_data_with_get_response(card):
    authenticate(card)
    content = os.urandom(700)
    ok(card, 0xDB, 0x3F, 0xFF, tlv.encode(0x5C, bytes.fromhex("5FC105")) + tlv.encode(0x53, content))
    chunks = [e for e in card.log if e.ins == 0xDB]
    assert [e.cla for e in chunks] == [0x10, 0x10, 0x00]
    body = ok(card, 0xCB, 0x3F, 0xFF, tlv.encode(0x5C, bytes.fromhex("5FC105")))
    assert tlv.as_dict(body)[0x53] == content
    assert [e.sw for e in card.log[-3:]] == [0x6100, 0x61C0, 0x9000]  # 704 bytes: 256, 256, then 192
    extended = card.transmit(bytes.fromhex("00CB3FFF0000055C035FC1050000"))
    assert extended[-2:] == b"\x90\x00" and tlv.as_dict(extended[:-2])[0x53] == content
    assert send(card, 0xCB, 0x3F, 0xFF, tlv.encode(0x5C, bytes.fromhex("5FC10A")))[1] == 0x6A82
    ok(card, 0xDB, 0x3F, 0xFF, tlv.encode(0x5C, bytes.fromhex("5FC105")) + tlv.encode(0x53, b""))  # delete
    assert send(card, 0xCB, 0x3F, 0xFF, tlv.encode(0x5C, bytes.fromhex("5FC105")))[1] == 0x6A82


def test_discovery_object():
    card = PivCard()
    body = ok(card, 0xCB, 0x3F, 0xFF, tlv.encode(0x5C, b"\x7e"))
    assert tlv.as_dict(tlv.as_dict(body)[0x7E])[0x4F] == bytes.fromhex("A000000308000010000100")


def test_rsa_2048_raw_signature_needs_pin_once(card):
    authenticate(card)
    public = generate(card, 0x9A, RSA2048)
    block = rsa_block(b"message")
    assert sign(card, 0x9A, RSA2048, block)[1] == 0x6982
    ok(card, 0x20, 0x00, 0x80, pin_block(PIN))
    for _ in range(2):  # PIN policy "once": verified stays verified
        signature, sw = sign(card, 0x9A, RSA2048, block)
        assert sw == 0x9000
        public.verify(signature, b"message", padding.PKCS1v15(), hashes.SHA256())
    assert sign(card, 0x9A, ECCP256, block)[1] == 0x6A86  # algorithm does not match the slot
    assert sign(card, 0x9A, RSA2048, block[:-1])[1] == 0x6A80


@pytest.mark.parametrize(("algorithm", "hash_algorithm"), [(ECCP256, hashes.SHA256()), (ECCP384, hashes.SHA384())])
def test_ecdsa_signs_the_given_hash_and_9c_wants_a_fresh_pin_each_time(card, algorithm, hash_algorithm):
    authenticate(card)
    public = generate(card, 0x9C, algorithm)
    digest = hashes.Hash(hash_algorithm)
    digest.update(b"message")
    hashed = digest.finalize()
    for _ in range(2):
        ok(card, 0x20, 0x00, 0x80, pin_block(PIN))
        signature, sw = sign(card, 0x9C, algorithm, hashed)
        assert sw == 0x9000
        public.verify(signature, hashed, ec.ECDSA(utils.Prehashed(hash_algorithm)))
    assert sign(card, 0x9C, algorithm, hashed)[1] == 0x6982  # "always": the last VERIFY was used up


def test_touch_policy_waits_through_the_injected_clock():
    waited: list[float] = []
    card = PivCard(touch_delay=1.5, sleep=waited.append)
    authenticate(card)
    generate(card, 0x9E, ECCP256, pin_policy=0x01, touch_policy=0x02)
    generate(card, 0x9D, ECCP256, pin_policy=0x01, touch_policy=0x03)
    for slot in (0x9E, 0x9E, 0x9D, 0x9D):
        assert sign(card, slot, ECCP256, bytes(32))[1] == 0x9000
    assert waited == [1.5, 1.5, 1.5] and card.touches == 3  # "cached" asks once


def test_import_key_and_no_attestation_for_imported_keys(card):
    authenticate(card)
    software = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = software.private_numbers()
    fields = b"".join(
        tlv.encode(tag, value.to_bytes(128, "big"))
        for tag, value in ((1, numbers.p), (2, numbers.q), (3, numbers.dmp1), (4, numbers.dmq1), (5, numbers.iqmp))
    )
    ok(card, 0xFE, RSA2048, 0x9A, fields + tlv.encode(0xAA, b"\x01"))
    signature, sw = sign(card, 0x9A, RSA2048, rsa_block(b"imported"))
    assert sw == 0x9000
    software.public_key().verify(signature, b"imported", padding.PKCS1v15(), hashes.SHA256())
    ec_key = ec.generate_private_key(ec.SECP384R1())
    ok(card, 0xFE, ECCP384, 0x82, tlv.encode(6, ec_key.private_numbers().private_value.to_bytes(48, "big")))
    metadata = tlv.as_dict(ok(card, 0xF7, 0x00, 0x82))
    assert metadata[0x01] == bytes([ECCP384]) and metadata[0x03] == b"\x02"  # imported
    assert send(card, 0xF9, 0x82, 0x00)[1] == 0x6A80


def test_attestation_chains_to_the_f9_certificate(card):
    authenticate(card)
    public = generate(card, 0x9C, ECCP256)
    attestation = x509.load_der_x509_certificate(ok(card, 0xF9, 0x9C, 0x00))
    f9_object = tlv.as_dict(tlv.as_dict(ok(card, 0xCB, 0x3F, 0xFF, tlv.encode(0x5C, bytes.fromhex("5FFF01"))))[0x53])
    f9 = x509.load_der_x509_certificate(f9_object[0x70])
    attestation.verify_directly_issued_by(f9)
    assert attestation.public_key() == public
    assert attestation.extensions.get_extension_for_oid(OID_POLICY).value.value == bytes([0x03, 0x01])  # always, never
    assert "9c" in attestation.subject.rfc4514_string()
    assert send(card, 0xF9, 0x9A, 0x00)[1] == 0x6A82  # empty slot
    metadata = tlv.as_dict(ok(card, 0xF7, 0x00, 0x9C))
    assert metadata[0x02] == bytes([0x03, 0x01]) and metadata[0x03] == b"\x01"
    assert tlv.as_dict(metadata[0x04])[0x86] == public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def test_metadata_version_serial_and_pin_retries(card):
    send(card, 0x20, 0x00, 0x80, pin_block(b"000000"))
    pin = tlv.as_dict(ok(card, 0xF7, 0x00, 0x80))
    assert pin[0x06] == bytes([3, 2]) and pin[0x05] == b"\x01"
    ok(card, 0x20, 0x00, 0x80, pin_block(PIN))
    assert ok(card, 0xFD, 0x00, 0x00) == bytes([5, 4, 3])
    assert int.from_bytes(ok(card, 0xF8, 0x00, 0x00), "big") == card.serial
    assert send(card, 0xF7, 0x00, 0x9E)[1] == 0x6A82


def test_log_keeps_no_secret(card):
    send(card, 0x20, 0x00, 0x80, pin_block(PIN))
    authenticate(card)
    text = "\n".join(str(e) for e in card.log)
    assert pin_block(PIN).hex() not in text and PIN.hex() not in text
    assert all(e.data is None for e in card.log if e.ins in (0x20, 0x87))


def test_slot_key_rejects_data_that_is_not_a_hash():
    key = SlotKey.generate(ECCP256, 0x01, 0x01)
    assert key.sign(bytes(20))  # a SHA-1 length is accepted
    with pytest.raises(ValueError):
        key.sign(bytes(33))


def test_put_data_is_logged_by_length_only(card):
    """yubico-piv-tool's PIN-protected mode keeps the management key in object 5FC109."""
    authenticate(card)
    secret = bytes.fromhex("88" + "18") + DEFAULT_MGMT_KEY
    ok(card, 0xDB, 0x3F, 0xFF, tlv.encode(0x5C, bytes.fromhex("5FC109")) + tlv.encode(0x53, tlv.encode(0x88, secret)))
    put = [e for e in card.log if e.ins == 0xDB]
    assert put and all(e.data is None and e.length for e in put)
    assert DEFAULT_MGMT_KEY.hex() not in "\n".join(str(e) for e in card.log)
