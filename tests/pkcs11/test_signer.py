"""The PKCS#11 signer in-process on SoftHSM2 tokens made by pkcs11-tool."""

from __future__ import annotations

import pytest

from rasign.backends.pkcs11 import Pkcs11Backend
from rasign.errors import (
    AuthenticationError,
    BackendUnavailable,
    KeyLoadError,
    SigningError,
    UsageError,
)
from rasign.signer import KeyKind, verify_signature

pytestmark = pytest.mark.softhsm


def uri(token: str, pin: str | None = None, **attrs: str) -> str:
    text = f"pkcs11:token={token}" + "".join(f";{k}={v}" for k, v in attrs.items())
    return text + (f"?pin-value={pin}" if pin else "")


def assert_signs(signer, digests=("SHA256", "SHA384", "SHA512")):
    public = signer.certificate.public_key() if signer.certificate is not None else signer.public_key()
    for digest in digests:
        message = f"message for {digest}".encode()
        assert verify_signature(public, signer.sign(message, digest), message, digest)


@pytest.mark.parametrize(("label", "kind"), [("rsa-2048", KeyKind.RSA), ("ec-p256", KeyKind.EC)])
def test_certificate_uri_alone_finds_certificate_and_key(hsm, options, label, kind):
    with Pkcs11Backend.open(options(certificate=uri("rasign-a", "1234", object=label))) as signer:
        assert signer.key_kind is kind
        assert signer.certificate.subject.rfc4514_string().startswith(f"CN={label}")
        assert signer.chain == []
        assert_signs(signer)


def test_key_uri_only_finds_its_certificate_on_the_token(hsm, options):
    with Pkcs11Backend.open(options(private_key=uri("rasign-a", "1234", object="ec-p256"))) as signer:
        assert signer.certificate is not None
        assert signer.certificate.subject.rfc4514_string().startswith("CN=ec-p256")
        assert_signs(signer, ("SHA256",))


def test_hybrid_file_certificate_and_key_uri(hsm, options):
    cert = hsm.cert("rasign-a", "rsa-2048")
    with Pkcs11Backend.open(options(certificate=cert, private_key=uri("rasign-a", "1234", id="%01"))) as signer:
        assert signer.key_kind is KeyKind.RSA
        assert_signs(signer, ("SHA256",))


def test_yubikey_style_attestation_certificate_is_skipped(hsm, options):
    # id 01 holds the rsa-2048 certificate and an attestation certificate with the same CKA_ID.
    with Pkcs11Backend.open(options(certificate=uri("rasign-a", "1234", id="%01"))) as signer:
        assert signer.certificate.subject.rfc4514_string().startswith("CN=rsa-2048")


def test_two_certificates_on_one_id_fail_with_a_uri_for_each(hsm, options):
    with pytest.raises(KeyLoadError) as caught:
        Pkcs11Backend.open(options(certificate=uri("rasign-a", "1234", id="%05")))
    line = caught.value.one_line()
    assert "2 certificates match" in line
    assert "object=shared-a;id=%05;type=cert" in line and "object=shared-b;id=%05;type=cert" in line
    assert "1234" not in line


def test_same_label_on_two_tokens_is_ambiguous_until_token_is_named(hsm, options):
    with pytest.raises(KeyLoadError) as caught:
        Pkcs11Backend.open(options(certificate="pkcs11:object=ec-p256?pin-value=1234"))
    assert "token=rasign-a" in caught.value.one_line() and "token=rasign-b" in caught.value.one_line()
    with Pkcs11Backend.open(options(certificate=uri("rasign-b", "5678", object="ec-p256"))) as signer:
        assert "OU=rasign-b" in signer.certificate.subject.rfc4514_string()


def test_mismatched_certificate_and_key_fail_before_any_network_call(hsm, options):
    cert = hsm.cert("rasign-a", "rsa-2048")
    with pytest.raises(KeyLoadError) as caught:
        Pkcs11Backend.open(options(certificate=cert, private_key=uri("rasign-b", "5678", id="%01")))
    assert "does not match the certificate" in caught.value.one_line()


def test_key_type_mismatch_is_reported(hsm, options):
    cert = hsm.cert("rasign-a", "rsa-2048")
    with pytest.raises(KeyLoadError, match="does not match"):
        Pkcs11Backend.open(options(certificate=cert, private_key=uri("rasign-a", "1234", id="%02")))


def test_wrong_user_pin_is_one_clear_authentication_error(hsm, options):
    with pytest.raises(AuthenticationError) as caught:
        Pkcs11Backend.open(options(certificate=uri("rasign-a", "Wr0ngP1n", object="ec-p256")))
    line = caught.value.one_line()
    assert "CKR_PIN_INCORRECT" in line and "will not retry" in line and "Wr0ngP1n" not in line


def test_pin_sources_file_env_and_default_env(hsm, options, tmp_path, monkeypatch):
    pin_file = tmp_path / "pin"
    pin_file.write_text("1234\n")
    for opts in (
        options(certificate=uri("rasign-a", object="ec-p256"), pkcs11_pin_file=str(pin_file)),
        options(certificate=uri("rasign-a", object="ec-p256") + f"?pin-source=file:{pin_file}"),
    ):
        with Pkcs11Backend.open(opts) as signer:
            assert_signs(signer, ("SHA256",))
    monkeypatch.setenv("MY_PIN", "1234")
    with Pkcs11Backend.open(options(certificate=uri("rasign-a", object="ec-p256"), pkcs11_pin_env="MY_PIN")) as signer:
        assert_signs(signer, ("SHA256",))
    monkeypatch.setenv("RASIGN_PKCS11_PIN", "1234")
    with Pkcs11Backend.open(options(certificate=uri("rasign-a", object="ec-p256"))) as signer:
        assert_signs(signer, ("SHA256",))


def test_no_pin_and_no_prompt_says_how_to_give_one(hsm, options, monkeypatch):
    monkeypatch.delenv("RASIGN_PKCS11_PIN", raising=False)
    with pytest.raises(AuthenticationError) as caught:
        Pkcs11Backend.open(options(certificate=uri("rasign-a", object="ec-p256")))
    assert "--pkcs11-pin-file" in caught.value.one_line()


@pytest.mark.parametrize("label", ["rsa-2048-always-auth", "ec-p256-always-auth"])
def test_always_authenticate_with_reuse_pin_signs_repeatedly(hsm, options, label):
    with Pkcs11Backend.open(options(certificate=uri("rasign-a", "1234", object=label), reuse_pin=True)) as signer:
        assert signer.always_authenticate
        for _ in range(3):  # a context login before every signature
            assert_signs(signer, ("SHA256",))


def test_always_authenticate_with_context_pin_file_and_env(hsm, options, tmp_path, monkeypatch):
    context = tmp_path / "context-pin"
    context.write_text("1234")
    with Pkcs11Backend.open(
        options(certificate=uri("rasign-a", "1234", object="ec-p256-always-auth"), pkcs11_context_pin_file=str(context))
    ) as signer:
        assert_signs(signer, ("SHA256", "SHA256"))
    monkeypatch.setenv("RASIGN_PKCS11_CONTEXT_PIN", "1234")
    with Pkcs11Backend.open(options(certificate=uri("rasign-a", "1234", object="rsa-2048-always-auth"))) as signer:
        assert_signs(signer, ("SHA256", "SHA512"))


def test_always_authenticate_without_context_pin_is_clear(hsm, options, monkeypatch):
    monkeypatch.delenv("RASIGN_PKCS11_CONTEXT_PIN", raising=False)
    with pytest.raises(AuthenticationError) as caught:
        Pkcs11Backend.open(options(certificate=uri("rasign-a", "1234", object="ec-p256-always-auth")))
    assert "--pkcs11-context-pin-file" in caught.value.one_line()


def test_wrong_context_pin_is_not_retried(hsm, options, tmp_path):
    context = tmp_path / "context-pin"
    context.write_text("0000")
    with pytest.raises(AuthenticationError) as caught:
        Pkcs11Backend.open(
            options(
                certificate=uri("rasign-a", "1234", object="ec-p256-always-auth"), pkcs11_context_pin_file=str(context)
            )
        )
    assert "context-specific PIN" in caught.value.one_line() and str(context) in caught.value.one_line()


def test_rsa_falls_back_to_raw_pkcs1_with_digest_info(hsm, options):
    from pkcs11 import Mechanism

    with Pkcs11Backend.open(options(certificate=uri("rasign-a", "1234", object="rsa-2048"))) as signer:
        hashed = signer.sign(b"same message")
        for name in ("SHA256_RSA_PKCS", "SHA384_RSA_PKCS", "SHA512_RSA_PKCS"):
            signer._mechanisms.available.discard(getattr(Mechanism, name))  # a token without hash-and-sign
        signer._mechanisms.forget()
        assert signer.sign(b"same message") == hashed  # PKCS#1 v1.5 is deterministic
        assert_signs(signer)
        signer._mechanisms.available.discard(Mechanism.RSA_PKCS)
        signer._mechanisms.forget()
        with pytest.raises(SigningError, match="CKM_SHA256_RSA_PKCS nor CKM_RSA_PKCS"):
            signer.sign(b"x")


def test_missing_ecdsa_mechanism_is_named(hsm, options):
    from pkcs11 import Mechanism

    with Pkcs11Backend.open(options(certificate=uri("rasign-a", "1234", object="ec-p256"))) as signer:
        signer._mechanisms.available.discard(Mechanism.ECDSA)
        signer._mechanisms.forget()
        with pytest.raises(SigningError, match="CKM_ECDSA"):
            signer.sign(b"x")


def test_session_survives_token_removal_between_signatures(hsm, options, close_all_sessions):
    """Token 'removed and reinserted': every session on the slot is closed under the signer."""
    with Pkcs11Backend.open(options(certificate=uri("rasign-a", "1234", object="ec-p256"))) as signer:
        assert_signs(signer, ("SHA256",))
        close_all_sessions(signer._token.slot.slot_id)
        assert_signs(signer, ("SHA256",))
        assert signer.recoveries == 1
        assert_signs(signer, ("SHA256",))
        assert signer.recoveries == 1  # the reopened session is kept


def test_always_authenticate_key_recovers_too(hsm, options, close_all_sessions):
    with Pkcs11Backend.open(
        options(certificate=uri("rasign-a", "1234", object="rsa-2048-always-auth"), reuse_pin=True)
    ) as signer:
        close_all_sessions(signer._token.slot.slot_id)
        assert_signs(signer, ("SHA256",))
        assert signer.recoveries == 1


RESET_SCRIPT = """
import json, sys
from rasign.backends.pkcs11 import Pkcs11Backend
from rasign.options import SignerOptions
from rasign.signer import verify_signature

signer = Pkcs11Backend.open(SignerOptions(certificate=sys.argv[1], pkcs11_lib=sys.argv[2], interactive=False))
public = signer.certificate.public_key()
seen = []
for step in ("start", "reinitialize", "finalize", "again"):
    if step == "reinitialize":
        signer._module.lib.reinitialize()   # C_Finalize + C_Initialize: every handle is gone
    elif step == "finalize":
        signer._module.lib.finalize()       # left uninitialised: the signer must initialise it
    message = step.encode()
    seen.append([step, verify_signature(public, signer.sign(message), message), signer.recoveries])
signer.close()
print(json.dumps(seen))
"""


def test_session_survives_module_reset_in_one_process(hsm):
    """C_Finalize/C_Initialize in a child process: SoftHSM's finalize also resets OpenSSL
    state that TLS clients in the pytest process would share."""
    import json
    import subprocess
    import sys

    from tests.conftest import clean_env

    done = subprocess.run(
        [sys.executable, "-c", RESET_SCRIPT, uri("rasign-a", "1234", object="rsa-2048"), hsm.module],
        capture_output=True,
        text=True,
        env=clean_env(hsm.env),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        ["start", True, 0],
        ["reinitialize", True, 1],
        ["finalize", True, 2],
        ["again", True, 2],
    ]


def test_logout_by_another_signer_is_recovered(hsm, options):
    first = Pkcs11Backend.open(options(certificate=uri("rasign-a", "1234", object="rsa-2048")))
    second = Pkcs11Backend.open(options(certificate=uri("rasign-a", "1234", object="ec-p256")))
    first.close()  # C_Logout is token-wide: the second signer's session loses its login
    assert_signs(second, ("SHA256",))
    second.close()
    second.close()  # closing twice is harmless
    with pytest.raises(SigningError, match="closed"):
        second.sign(b"x")


def test_recovery_without_a_non_interactive_pin_is_refused(hsm, options, close_all_sessions):
    with Pkcs11Backend.open(options(certificate=uri("rasign-a", "1234", object="ec-p256"))) as signer:
        signer._user_source = None  # as if the PIN had been typed at the prompt
        close_all_sessions(signer._token.slot.slot_id)
        with pytest.raises(AuthenticationError, match="typed at a prompt"):
            signer.sign(b"x")


def test_key_only_uri_without_certificate_still_signs(hsm, options):
    # rasign-b's rsa-2048-b has a certificate, but a key found by a label no certificate has
    # (and no CKA_ID) gives a certificate-less signer whose public key comes from the token.
    with Pkcs11Backend.open(options(private_key=uri("rasign-b", "5678", object="rsa-2048-b"))) as signer:
        assert signer.public_key() is not None
        assert_signs(signer, ("SHA256",))


def test_certificate_on_token_with_key_file_is_refused(hsm, options, tmp_path):
    with pytest.raises(UsageError):
        Pkcs11Backend.open(
            options(certificate=uri("rasign-a", "1234", object="rsa-2048"), private_key=str(tmp_path / "k.pem"))
        )


def test_no_matching_token_lists_tokens_present(hsm, options):
    with pytest.raises(KeyLoadError) as caught:
        Pkcs11Backend.open(options(certificate=uri("no-such-token", "1234")))
    assert "token=rasign-a" in caught.value.one_line() and "token=rasign-b" in caught.value.one_line()


def test_missing_module_lists_every_path_tried(hsm, options):
    with pytest.raises(BackendUnavailable) as caught:
        Pkcs11Backend.open(options(certificate=uri("rasign-a", "1234"), pkcs11_lib="/nonexistent/libnothing.so"))
    assert "/nonexistent/libnothing.so: no such file" in caught.value.one_line()
    assert "--pkcs11-lib" in caught.value.one_line()


def test_list_identities_gives_exact_uri_per_certificate(hsm, options):
    identities = Pkcs11Backend.list_identities(options(certificate="pkcs11:token=rasign-a"))
    labels = sorted(i.uri.split("object=")[1].split(";")[0] for i in identities)
    assert labels == sorted(
        [
            "rsa-2048",
            "ec-p256",
            "rsa-2048-always-auth",
            "ec-p256-always-auth",
            "shared-a",
            "shared-b",
            "X.509%20Certificate%20for%20PIV%20Attestation%209a",
        ]
    )
    attestation = [i for i in identities if "Attestation" in i.uri]
    assert attestation[0].has_private_key is False
    for identity in identities:  # each URI opens exactly its certificate
        if identity.has_private_key and "always-auth" not in identity.uri:
            with Pkcs11Backend.open(options(certificate=identity.uri + "?pin-value=1234")) as signer:
                assert signer.certificate == identity.certificate


@pytest.mark.parametrize("size", [32, 48, 66])
def test_ecdsa_der_of_raw_token_signatures_matches_cryptography(size):
    """PKCS#11 returns r||s; the one core encoder turns it into DER, leading zeros and high bits included."""
    import os

    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from rasign.signer import der_from_raw_ecdsa

    samples = [os.urandom(2 * size) for _ in range(200)]
    samples += [
        b"\x00" * 3 + b"\x01" * (size - 3) + b"\xff" * size,
        b"\x80" * (2 * size),
        b"\x00" * (2 * size - 1) + b"\x01",
    ]
    for raw in samples:
        r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
        assert der_from_raw_ecdsa(raw) == encode_dss_signature(r, s)


@pytest.mark.parametrize("label", ["ec-p256-always-auth", "rsa-2048-always-auth"])
def test_rejected_context_pin_mid_run_fails_once_then_the_signer_still_works(hsm, options, tmp_path, label):
    """A wrong context PIN poisons a single-part operation's session; the signer reopens it."""
    context = tmp_path / "context-pin"
    context.write_text("1234")
    with Pkcs11Backend.open(
        options(certificate=uri("rasign-a", "1234", object=label), pkcs11_context_pin_file=str(context))
    ) as signer:
        assert_signs(signer, ("SHA256",))
        context.write_text("0000")  # the file is re-read for each signature, never cached
        for _ in range(3):
            with pytest.raises(AuthenticationError, match="context-specific PIN"):
                signer.sign(b"x")
        assert len(signer._parked) <= 1  # only the logged-in session is kept aside
        context.write_text("1234")
        assert_signs(signer, ("SHA256", "SHA256"))
        assert signer.recoveries == 0  # the login survived: only a fresh session was needed


def test_key_uri_matching_several_keys_without_certificate_lists_them(hsm, options):
    with pytest.raises(KeyLoadError) as caught:
        Pkcs11Backend.open(options(private_key=uri("rasign-b", "5678")))
    line = caught.value.one_line()
    assert "2 private keys match" in line
    assert "object=rsa-2048-b;id=%01;type=private" in line and "object=ec-p256;id=%02;type=private" in line


def test_token_wide_key_uri_is_resolved_by_the_certificate(hsm, options):
    # No id/object in the key URI: every key on the token is a candidate, and the one whose
    # test signature verifies with the certificate wins (the Go helper's "base token URI" case).
    cert = hsm.cert("rasign-a", "ec-p256")
    with Pkcs11Backend.open(options(certificate=cert, private_key=uri("rasign-a", "1234"))) as signer:
        assert "object=ec-p256" in str(signer.key_uri)


def test_key_uri_matching_two_tokens_is_refused_before_any_login(hsm, options):
    cert = hsm.cert("rasign-a", "ec-p256")
    with pytest.raises(KeyLoadError) as caught:
        Pkcs11Backend.open(options(certificate=cert, private_key="pkcs11:object=ec-p256?pin-value=1234"))
    line = caught.value.one_line()
    assert "2 tokens match" in line and "token=rasign-a" in line and "token=rasign-b" in line


def test_token_wide_key_uri_never_spends_a_context_login_on_other_keys(hsm, options, monkeypatch):
    # Always-authenticate keys on the token would need a context PIN for a test signature;
    # their public halves rule them out first, so no PIN is asked or tried.
    monkeypatch.delenv("RASIGN_PKCS11_CONTEXT_PIN", raising=False)
    for label in ("rsa-2048", "ec-p256"):
        cert = hsm.cert("rasign-a", label)
        with Pkcs11Backend.open(options(certificate=cert, private_key=uri("rasign-a", "1234"))) as signer:
            assert f"object={label};" in str(signer.key_uri)


def test_each_uri_pin_goes_to_its_own_token(hsm, options, tmp_path):
    # Certificate on rasign-b (PIN 5678) is public, key URI on rasign-b too but with its PIN;
    # a certificate URI PIN for another token must never be tried on the key's token.
    cert_uri = uri("rasign-b", "5678", object="ec-p256")
    key_uri = uri("rasign-b", "5678", id="%02")
    with Pkcs11Backend.open(options(certificate=cert_uri, private_key=key_uri)) as signer:
        assert_signs(signer, ("SHA256",))
    # A wrong PIN in the key URI overrides a right one in the certificate URI (Go helper 8.4).
    with pytest.raises(AuthenticationError, match="CKR_PIN_INCORRECT"):
        Pkcs11Backend.open(options(certificate=cert_uri, private_key=uri("rasign-b", "0000", id="%02")))
