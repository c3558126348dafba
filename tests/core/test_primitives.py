"""Small pieces of the core: DER conversion, JSON output, timestamps, redaction, registry."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from rasign import logs
from rasign.credentials import Credentials, go_json, parse_timestamp
from rasign.options import SignerOptions
from rasign.registry import choose_backend
from rasign.session import backoff_delay
from rasign.signer import der_from_raw_ecdsa, verify_signature


def test_raw_ecdsa_to_der_matches_cryptography():
    key = ec.generate_private_key(ec.SECP384R1())
    message = b"string to sign"
    for _ in range(20):
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
        raw = r.to_bytes(48, "big") + s.to_bytes(48, "big")
        assert der_from_raw_ecdsa(raw) == encode_dss_signature(r, s)
        assert verify_signature(key.public_key(), der_from_raw_ecdsa(raw), message)


def test_process_json_is_go_compatible():
    creds = Credentials("AKIA", "se<cr>et&", "tok", "2026-01-02T03:04:05Z")
    assert creds.to_process_json() == (
        '{"Version":1,"AccessKeyId":"AKIA","SecretAccessKey":"se\\u003ccr\\u003eet\\u0026",'
        '"SessionToken":"tok","Expiration":"2026-01-02T03:04:05Z"}'
    )
    assert "se<cr>" not in repr(creds) and "tok" not in repr(creds)
    assert go_json({"a": "\u2028"}) == '{"a":"\\u2028"}'


def test_timestamps():
    assert parse_timestamp("2026-01-02T03:04:05Z") == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert parse_timestamp("2026-01-02T03:04:05.123456789Z").microsecond == 123456
    assert parse_timestamp("2026-01-02T05:04:05+02:00").hour == 3


def test_backoff_is_capped_and_jittered():
    delays = [backoff_delay(n) for n in range(1, 12) for _ in range(20)]
    assert all(0 <= d <= 20 for d in delays)
    assert len(set(delays)) > 100


def test_scrub_removes_registered_and_patterned_secrets():
    logs.register_secret("SuperSecretValue123")
    text = logs.scrub("key SuperSecretValue123 pkcs11:token=a?pin-value=1234 Signature=abcdef0123 SessionToken: xyz")
    assert "SuperSecretValue123" not in text and "1234" not in text and "abcdef0123" not in text and "xyz" not in text


@pytest.mark.parametrize(
    "options, backend",
    [
        (SignerOptions(certificate="c.pem", private_key="k.pem"), "file"),
        (SignerOptions(certificate="pkcs11:token=a"), "pkcs11"),
        (SignerOptions(certificate="c.pem", private_key="pkcs11:object=k"), "pkcs11"),
        (SignerOptions(certificate="c.pem", private_key="handle:0x81000001"), "tpm"),
        (SignerOptions(cert_selector="Key=x509Subject,Value=CN=a"), "store"),
        (SignerOptions(cert_selector="Key=x509Subject,Value=CN=a", certificate="pkcs11:token=a"), "store"),
    ],
)
def test_backend_precedence(options, backend):
    assert choose_backend(options) == backend


def test_tss2_file_goes_to_tpm(tmp_path):
    key = tmp_path / "k.pem"
    key.write_text("-----BEGIN TSS2 PRIVATE KEY-----\nMAA=\n-----END TSS2 PRIVATE KEY-----\n")
    assert choose_backend(SignerOptions(certificate="c.pem", private_key=str(key))) == "tpm"


def test_scrub_keeps_pkcs11_token_labels_visible():
    text = logs.scrub('pkcs11:token=build-token;object=k {"Token": "imds-secret"} X-aws-ec2-metadata-token: tok123')
    assert "token=build-token" in text
    assert "imds-secret" not in text and "tok123" not in text


def test_tpm_key_with_certificate_on_a_token_goes_to_tpm(tmp_path):
    assert (
        choose_backend(SignerOptions(certificate="pkcs11:token=t;object=c", private_key="handle:0x81000001")) == "tpm"
    )
