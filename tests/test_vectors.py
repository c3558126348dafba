"""Known-answer vectors from three independent implementations, checked stage by stage.

A mismatch shows up at the first stage that differs (payload hash, canonical query,
headers, canonical request, scope, string to sign, signature), not only as a wrong
signature. RSA signatures must match byte for byte; ECDSA ones are verified.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from rasign import sigv4x509 as sv
from rasign.signer import KeyKind, key_kind_of, verify_signature

# In the repository (with their NOTICE.md and licences), so a fresh clone tests itself.
VECTORS = Path(__file__).resolve().parent / "vectors"

IDS = ["v1", "v2", "v3", "v4", "v5", "v6", "self-computed"]


def load(vid: str) -> dict:
    return json.loads((VECTORS / f"{vid}.json").read_text())


def request_of(inputs: dict) -> sv.CanonicalInput:
    return sv.CanonicalInput(
        method=inputs["method"],
        path=inputs["path"],
        query=[tuple(pair) for pair in inputs["query"]],
        headers=[tuple(pair) for pair in inputs["headers"]],
        body=inputs["body"].encode("utf-8"),
    )


def private_key(inputs: dict):
    password = inputs.get("private_key_password")
    data = (VECTORS / inputs["private_key_file"]).read_bytes()
    return serialization.load_pem_private_key(data, password.encode() if password else None)


@pytest.fixture(params=IDS)
def vector(request):
    if not VECTORS.is_dir():
        pytest.fail(f"known-answer vectors not found at {VECTORS}")
    return load(request.param)


def test_stages(vector):
    inputs, expected = vector["inputs"], vector["expected"]
    req = request_of(inputs)
    assert sv.payload_hash(req.body) == expected["payload_sha256"]
    assert sv.canonical_query(req.query) == expected["canonical_query"]
    assert sv.wire_query(req.query) == inputs["raw_query"]
    assert sv.canonical_headers(req.headers) == expected["canonical_headers"]
    assert sv.signed_headers(req.headers) == expected["signed_headers"]
    canonical = sv.canonical_request(req)
    assert canonical == expected["canonical_request"]
    assert hashlib.sha256(canonical.encode()).hexdigest() == expected["canonical_request_sha256"]
    scope = sv.credential_scope(inputs["x_amz_date"], inputs["region"], inputs["service"])
    assert scope == expected["credential_scope"]
    sts = sv.string_to_sign(inputs["algorithm"], inputs["x_amz_date"], scope, canonical)
    assert sts == expected["string_to_sign"]


def test_algorithm_comes_from_key_type(vector):
    inputs = vector["inputs"]
    cert = x509.load_pem_x509_certificate((VECTORS / inputs["certificate_file"]).read_bytes())
    kind = key_kind_of(private_key(inputs).public_key())
    assert kind.algorithm == inputs["algorithm"]
    assert key_kind_of(cert.public_key()) is kind
    assert cert.serial_number == int(inputs["cert_serial_decimal"])


def test_signature(vector):
    inputs, expected = vector["inputs"], vector["expected"]
    key = private_key(inputs)
    cert = x509.load_pem_x509_certificate((VECTORS / inputs["certificate_file"]).read_bytes())
    sts = expected["string_to_sign"].encode()
    kind = key_kind_of(key.public_key())
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    if kind is KeyKind.RSA:
        mine = key.sign(sts, padding.PKCS1v15(), hashes.SHA256())
        assert mine.hex() == expected["signature_hex"]
    else:
        mine = key.sign(sts, ec.ECDSA(hashes.SHA256()))
        assert verify_signature(cert.public_key(), mine, sts)
        if expected["signature_hex"]:
            assert verify_signature(cert.public_key(), bytes.fromhex(expected["signature_hex"]), sts)
            # SHA-256 even on P-384: the recorded signature must not verify with SHA-384.
            assert not verify_signature(cert.public_key(), bytes.fromhex(expected["signature_hex"]), sts, "SHA384")
    signed = sv.sign_request(
        request_of(inputs),
        algorithm=inputs["algorithm"],
        serial_number=cert.serial_number,
        region=inputs["region"],
        service=inputs["service"],
        sign=lambda m: mine,
    )
    assert signed.string_to_sign == expected["string_to_sign"]
    if expected.get("authorization"):
        if vector.get("verify_only"):
            head = expected["authorization"].rsplit("Signature=", 1)[0]
            assert signed.authorization.rsplit("Signature=", 1)[0] == head
        else:
            assert signed.authorization == expected["authorization"]
    prefix = expected.get("authorization_prefix")
    if prefix:
        assert signed.authorization.startswith(prefix)
    parsed = sv.parse_authorization(signed.authorization)
    assert parsed.serial_number == cert.serial_number
    assert parsed.signature == mine
