"""rasign through the real ykcs11 and OpenSC modules, against the virtual YubiKey.

Slots as provisioned by virtualpiv/rig.py with yubico-piv-tool: 9a RSA-2048 generated on the
card (PIN once), 9c P-256 generated (PIN always), 9d P-384 imported (no attestation). ykcs11
shows an attestation certificate for every generated key with the key's own CKA_ID; those
must never become the identity. Every test counts what reached the card.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.conftest import REPO
from tests.piv.conftest import credential_process, run_in_card_namespace
from tests.support.openssl import assert_openssl_verifies
from virtualpiv.card import PivCard
from virtualpiv.keys import ORIGIN_GENERATED
from virtualpiv.rig import OPENSC, PIN, PKCS11_SPY, YKCS11

pytestmark = [pytest.mark.network]
MODULES = [pytest.param(YKCS11, id="ykcs11"), pytest.param(OPENSC, id="opensc")]
GENERAL_AUTHENTICATE, VERIFY, ATTEST, GET_METADATA = 0x87, 0x20, 0xF9, 0xF7


def assert_credentials(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["Version"] == 1 and out["AccessKeyId"] and out["SessionToken"]
    return out


def certificate_sent(emulator) -> x509.Certificate:
    """The X.509 certificate the last CreateSession carried."""
    header = emulator.requests[-1]["headers"]["X-Amz-X509"]
    return x509.load_der_x509_certificate(base64.b64decode(header))


def pin_verifies(card: PivCard) -> int:
    """VERIFYs that presented a PIN (not the empty status query, which spends no try)."""
    return sum(1 for e in card.log if e.ins == VERIFY and e.length)


def signatures(card: PivCard, slot: int) -> int:
    """GENERAL AUTHENTICATE commands that completed a signature in ``slot`` (last block of a chain)."""
    return sum(1 for e in card.log if e.ins == GENERAL_AUTHENTICATE and e.p2 == slot and not e.cla & 0x10)


def own_certificate(piv, slot: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(piv.certificates[slot].read_bytes())


@pytest.mark.parametrize("module", MODULES)
def test_rsa_9a_identity_is_the_slot_certificate_not_its_attestation(piv, card, emulator, module, tmp_path):
    """Certificate URI by CKA_ID only: under ykcs11 id 01 is also the 9a attestation certificate."""
    log = tmp_path / "spy.log"
    done = credential_process(
        piv,
        emulator,
        "--pkcs11-lib",
        PKCS11_SPY,
        "--certificate",
        f"pkcs11:id=%01?pin-value={PIN}",
        env={"PKCS11SPY": module, "PKCS11SPY_OUTPUT": str(log)},
    )
    assert_credentials(done)
    assert certificate_sent(emulator) == own_certificate(piv, "9a")
    assert signatures(card, 0x9A) >= 1 and pin_verifies(card) >= 1
    sessions = sum(1 for line in log.read_text().splitlines() if line.split(": ")[-1].strip() == "C_OpenSession")
    assert sessions >= 1
    if module == YKCS11:
        # ykcs11 rescans the card (ATTEST of all 25 key slots) on every C_OpenSession.
        assert card.count(ATTEST) == 25 * sessions, (card.count(ATTEST), sessions)


@pytest.mark.parametrize("module", MODULES)
def test_always_pin_slot_9c_with_reuse_pin_verifies_before_each_signature(piv, card, emulator, module):
    done = credential_process(
        piv, emulator, "--pkcs11-lib", module, "--certificate", f"pkcs11:id=%02?pin-value={PIN}", "--reuse-pin"
    )
    assert_credentials(done)
    assert certificate_sent(emulator) == own_certificate(piv, "9c")
    gas = [e for e in card.log if e.ins in (VERIFY, GENERAL_AUTHENTICATE) and (e.ins != VERIFY or e.length)]
    assert signatures(card, 0x9C) >= 1
    for index, exchange in enumerate(gas):  # the card refuses (6982) a 9c signature without a fresh VERIFY
        if exchange.ins == GENERAL_AUTHENTICATE:
            assert exchange.sw == 0x9000 and index and gas[index - 1].ins == VERIFY, [str(e) for e in gas]


@pytest.mark.parametrize("module", MODULES)
def test_always_pin_slot_9c_without_a_signature_pin_stops_before_signing(piv, card, emulator, module):
    sent = len(emulator.requests)
    done = credential_process(piv, emulator, "--pkcs11-lib", module, "--certificate", f"pkcs11:id=%02?pin-value={PIN}")
    assert done.returncode == 6, done.stderr
    assert done.stderr.startswith("rasign: error: ") and "--reuse-pin" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and PIN not in done.stderr
    assert done.stdout == ""
    assert signatures(card, 0x9C) == 0 and len(emulator.requests) == sent  # nothing signed, nothing sent


@pytest.mark.parametrize("module", MODULES)
def test_imported_p384_key_in_9d_with_file_certificate(piv, card, emulator, module):
    done = credential_process(
        piv,
        emulator,
        "--pkcs11-lib",
        module,
        "--certificate",
        str(piv.certificates["9d"]),
        "--private-key",
        f"pkcs11:id=%03?pin-value={PIN}",
    )
    assert_credentials(done)
    assert certificate_sent(emulator) == own_certificate(piv, "9d")
    assert signatures(card, 0x9D) >= 1


@pytest.mark.parametrize(
    ("module", "slot", "key_id", "digest"),
    [
        pytest.param(YKCS11, "9a", "%01", "SHA256", id="ykcs11-rsa"),
        pytest.param(OPENSC, "9c", "%02", "SHA384", id="opensc-p256"),
    ],
)
def test_sign_string_verifies_with_openssl(piv, card, module, slot, key_id, digest, tmp_path):
    from rasign.commands.sign_string import test_message

    done = run_in_card_namespace(
        piv,
        "sign-string",
        "--pkcs11-lib",
        module,
        "--certificate",
        f"pkcs11:id={key_id}?pin-value={PIN}",
        "--reuse-pin",
        "--format",
        "text",
        "--digest",
        digest,
    )
    assert done.returncode == 0, done.stderr
    public = piv.public_keys[slot]
    assert_openssl_verifies(public, bytes.fromhex(done.stdout.strip()), test_message(public), tmp_path, digest)


@pytest.mark.parametrize("module", MODULES)
def test_read_certificate_data_lists_the_slot_certificates(piv, card, module):
    done = run_in_card_namespace(
        piv, "read-certificate-data", "--pkcs11-lib", module, "--certificate", "pkcs11:type=cert"
    )
    assert done.returncode == 0, done.stderr
    entries = done.stdout.split("\n\n")
    for slot in ("9a", "9c", "9d"):
        cn = own_certificate(piv, slot).subject.rfc4514_string().split(",")[0]
        [entry] = [e for e in entries if f"Subject: {cn}," in e]
        assert "attestation" not in entry and "URI: pkcs11:" in entry
    attestations = [e for e in entries if "Subject: CN=YubiKey PIV Attestation" in e]
    if module == YKCS11:  # one per key generated on the card (9a, 9c, ...), flagged; the imported 9d has none
        generated = sum(1 for key in piv.card.keys.values() if key.origin == ORIGIN_GENERATED)
        assert len(attestations) == generated >= 2
        assert all("(YubiKey attestation certificate)" in e for e in attestations)
    else:
        assert attestations == []
    assert pin_verifies(card) == 0  # listing needs no PIN


@pytest.mark.parametrize("module", MODULES)
def test_wrong_pin_spends_exactly_one_try(piv, card, emulator, module):
    before = card.pin_remaining
    done = credential_process(piv, emulator, "--pkcs11-lib", module, "--certificate", "pkcs11:id=%01?pin-value=654321")
    try:
        assert done.returncode == 6, done.stderr
        assert "654321" not in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert pin_verifies(card) == 1, [str(e) for e in card.log if e.ins == VERIFY]
        assert card.pin_remaining == before - 1
        assert signatures(card, 0x9A) == 0
    finally:
        piv.tool("--action=verify-pin", f"--pin={PIN}")  # a right PIN restores the counter
    assert card.pin_remaining == before


def test_command_line_runs_a_client_with_the_card_inserted(piv):
    """``python -m virtualpiv -- CMD``: its own card and pcscd, the command inside, APDU counts after."""
    done = subprocess.run(
        [sys.executable, "-m", "virtualpiv", "--log", "--", "yubico-piv-tool", "--action=status"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(REPO),
    )
    assert done.returncode == 0, done.stderr
    assert "Serial Number:" in done.stdout and "PIN tries left:\t3" in done.stdout
    assert "00 A4 04 00 [5] a000000308 -> 9000" in done.stderr
    assert "virtualpiv: " in done.stderr and " APDUs by INS: " in done.stderr


def test_yubico_piv_tool_attests_generated_keys_to_the_f9_certificate(piv, card, tmp_path):
    piv.tool("--action=read-certificate", "--slot=f9", f"--output={tmp_path / 'f9.pem'}")
    for slot in ("9a", "9c"):
        attestation = tmp_path / f"{slot}-attestation.pem"
        piv.tool("--action=attest", f"--slot={slot}", f"--output={attestation}")
        verify = subprocess.run(
            ["openssl", "verify", "-partial_chain", "-CAfile", str(tmp_path / "f9.pem"), str(attestation)],
            capture_output=True,
            text=True,
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
        certificate = x509.load_pem_x509_certificate(attestation.read_bytes())
        assert certificate.public_key() == piv.public_keys[slot]
    with pytest.raises(RuntimeError, match="attest"):
        piv.tool("--action=attest", "--slot=9d")  # imported: the card cannot vouch for it
    assert card.count(ATTEST) == 3


def test_yubico_piv_tool_changes_the_pin_and_the_management_key(piv, card):
    piv.tool("--action=change-pin", f"--pin={PIN}", "--new-pin=24682468")
    piv.tool("--action=verify-pin", "--pin=24682468")
    piv.tool("--action=unblock-pin", "--pin=12345678", f"--new-pin={PIN}")  # RESET RETRY with the PUK
    piv.tool("--action=verify-pin", f"--pin={PIN}")
    new_key = "0a0b0c0d0e0f10111213141516171819" + "1a1b1c1d1e1f2021"
    default_key = "010203040506070801020304050607080102030405060708"
    piv.tool("--action=set-mgm-key", f"--new-key={new_key}")
    with pytest.raises(RuntimeError):
        piv.tool("--action=set-chuid")  # still the default key: refused
    piv.tool(f"--key={new_key}", "--action=set-mgm-key", f"--new-key={default_key}")
    piv.tool("--action=set-chuid")


@pytest.mark.parametrize("module", MODULES)
def test_blocked_pin_is_reported_with_the_puk_as_the_way_out(piv, card, emulator, module):
    try:
        for _ in range(card.pin_retries):
            with pytest.raises(RuntimeError):
                piv.tool("--action=verify-pin", "--pin=000000")
        assert card.pin_remaining == 0
        done = credential_process(
            piv, emulator, "--pkcs11-lib", module, "--certificate", f"pkcs11:id=%01?pin-value={PIN}"
        )
        assert done.returncode == 6, done.stderr
        assert "locked" in done.stderr and "PUK" in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert signatures(card, 0x9A) == 0
    finally:
        piv.tool("--action=unblock-pin", "--pin=12345678", f"--new-pin={PIN}")


def test_touch_policy_waits_for_a_touch_per_signature(piv, card, emulator, tmp_path):
    """9e with PIN never and touch always; the card's touch delay runs on an injected clock."""
    public_pem = tmp_path / "9e.pem"
    piv.tool(
        "--action=generate",
        "--slot=9e",
        "--algorithm=ECCP256",
        "--pin-policy=never",
        "--touch-policy=always",
        f"--output={public_pem}",
    )
    cert = tmp_path / "9e-cert.pem"
    piv.issue(serialization.load_pem_public_key(public_pem.read_bytes()), cert, "piv 9e touch")
    piv.tool("--action=import-certificate", "--slot=9e", f"--input={cert}")
    waited: list[float] = []
    card.touch_delay, card.sleep = 0.75, waited.append
    try:
        done = credential_process(
            piv, emulator, "--pkcs11-lib", YKCS11, "--certificate", f"pkcs11:id=%04?pin-value={PIN}"
        )
    finally:
        card.touch_delay, card.sleep = 0.0, PivCard.sleep
    assert_credentials(done)
    assert certificate_sent(emulator).subject.rfc4514_string().startswith("CN=piv 9e touch")
    assert waited == [0.75] * signatures(card, 0x9E) and waited
