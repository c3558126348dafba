"""The known-answer vectors' (tests/vectors) keys load through the file backend and reproduce the signatures.

RSA PKCS#1 v1.5 is deterministic, so the recorded signatures must come out byte for byte;
ECDSA vectors are verify-only (recorded signatures checked, fresh ones verified).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rasign.signer import verify_signature
from tests.files.helpers import open_file_signer

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
NAMES = sorted(path.stem for path in VECTORS.glob("*.json"))
assert NAMES, f"known-answer vectors missing from the repository: {VECTORS}"


def _open(name: str):
    data = json.loads((VECTORS / f"{name}.json").read_text())
    inputs = data["inputs"]
    chain = inputs.get("chain_files") or []
    assert len(chain) <= 1
    signer = open_file_signer(
        certificate=str(VECTORS / inputs["certificate_file"]),
        private_key=str(VECTORS / inputs["private_key_file"]),
        intermediates=str(VECTORS / chain[0]) if chain else None,
        pkcs8_password=inputs.get("private_key_password"),
    )
    return data, signer


@pytest.mark.parametrize("name", NAMES)
def test_vector_key_reproduces_or_verifies_the_signature(name):
    data, signer = _open(name)
    with signer:
        assert signer.algorithm == data["inputs"]["algorithm"]
        assert len(signer.chain) == len(data["inputs"].get("chain_files") or [])
        string_to_sign = data["expected"]["string_to_sign"].encode()
        recorded = data["expected"].get("signature_hex")
        public = signer.certificate.public_key()
        if recorded and not data.get("verify_only"):
            assert signer.sign(string_to_sign).hex() == recorded
        if recorded:
            assert verify_signature(public, bytes.fromhex(recorded), string_to_sign)
        assert verify_signature(public, signer.sign(string_to_sign), string_to_sign)


def test_self_computed_encrypted_key_and_sign_string_signatures():
    """ACM-style encrypted PKCS#8 (PBKDF2 default PRF), password ``password``."""
    data, signer = _open("self-computed")
    assert "encrypted PKCS#8" in signer.describe()
    message = bytes.fromhex(data["sign_string"]["message_hex"])
    with signer:
        for digest, expected in data["sign_string"]["signature_hex"].items():
            assert signer.sign(message, digest).hex() == expected


def test_v3_pkcs1_key():
    _, signer = _open("v3")
    assert "PKCS#1" in signer.describe()
