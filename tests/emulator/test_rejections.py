"""Every CreateSession rejection: the status, the x-amzn-ErrorType code and the message.

Each test changes one thing in an otherwise valid request, so a pass proves that the
emulator checks that one thing (and a client that gets it wrong will fail here first).
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.emulator.factory import (
    make_ca,
    make_leaf,
    new_key,
    sha1_leaf,
    v1_certificate,
)
from tests.support.emulator_client import prepare_create_session, send

pytestmark = pytest.mark.network


def expect(response, status, code, message=None):
    assert response.status_code == status, response.text
    assert response.headers["x-amzn-ErrorType"] == code
    assert response.headers["x-amzn-RequestId"]
    body = response.json()
    assert set(body) == {"message"}
    if message is not None:
        assert message in body["message"]
    return body["message"]


def test_bad_signature(emu, p256_identity):
    cert, _ = p256_identity
    impostor = new_key("p256")  # signs with a key that is not the certificate's
    expect(
        send(prepare_create_session(emu, cert, impostor), emu.ca_bundle),
        403,
        "AccessDeniedException",
        "Invalid signature",
    )
    assert "canonical request" in emu.requests[-1]["reason"]


def test_tampered_body(emu, p256_identity):
    cert, key = p256_identity
    prepared = prepare_create_session(emu, cert, key, duration_seconds=900)
    prepared.body = prepared.body.replace(b"900", b"901")
    expect(send(prepared, emu.ca_bundle), 403, "AccessDeniedException", "Invalid signature")


def test_tampered_query(emu, p256_identity):
    cert, key = p256_identity
    prepared = prepare_create_session(emu, cert, key)
    prepared.url = prepared.url.replace("roleArn=", "roleArn=x")
    response = send(prepared, emu.ca_bundle)
    assert response.status_code == 403


def test_tampered_signed_header(emu, p256_identity):
    cert, key = p256_identity
    prepared = prepare_create_session(emu, cert, key)
    signed = prepared.header("X-Amz-Date")
    other_seconds = "01Z" if signed.endswith("00Z") else "00Z"  # always a different time, even at :00
    prepared.replace_header("X-Amz-Date", signed[:-3] + other_seconds)
    expect(send(prepared, emu.ca_bundle), 403, "AccessDeniedException", "Invalid signature")


@pytest.mark.parametrize("header", ["X-Amz-X509", "X-Amz-Date", "Host", "Content-Type", "X-Amz-X509-Chain"])
def test_required_header_unsigned(emu, emu_intermediate, header):
    key = new_key("p256")
    cert = make_leaf(emu_intermediate, key)
    prepared = prepare_create_session(emu, cert, key, chain=[emu_intermediate.cert], unsigned=[header])
    message = expect(send(prepared, emu.ca_bundle), 403, "AccessDeniedException", "must be signed")
    assert header.lower() in message
    assert "missingSignedHeaders" in emu.requests[-1]["reason"]


def test_missing_authorization(emu, p256_identity):
    cert, key = p256_identity
    prepared = prepare_create_session(emu, cert, key)
    prepared.headers = [(k, v) for k, v in prepared.headers if k != "Authorization"]
    expect(send(prepared, emu.ca_bundle), 403, "AccessDeniedException", "Missing Authorization")


def test_malformed_authorization(emu, p256_identity):
    cert, key = p256_identity
    prepared = prepare_create_session(emu, cert, key)
    prepared.replace_header("Authorization", "AWS4-HMAC-SHA256 Credential=AKIA/x, SignedHeaders=host, Signature=00")
    expect(send(prepared, emu.ca_bundle), 403, "AccessDeniedException", "not a SigV4-X509")


def test_algorithm_must_match_key_type(emu, emu_root):
    key = new_key("rsa")
    cert = make_leaf(emu_root, key)
    prepared = prepare_create_session(emu, cert, key, algorithm="AWS4-X509-ECDSA-SHA256")
    expect(send(prepared, emu.ca_bundle), 403, "AccessDeniedException", "does not match the certificate's RSA key")


def test_unknown_algorithm(emu, p256_identity):
    cert, key = p256_identity
    prepared = prepare_create_session(emu, cert, key, algorithm="AWS4-X509-ECDSA-SHA384")
    expect(send(prepared, emu.ca_bundle), 403, "AccessDeniedException", "Unsupported signing algorithm")


def test_serial_must_match_certificate(emu, p256_identity):
    cert, key = p256_identity
    prepared = prepare_create_session(emu, cert, key, serial_number=cert.serial_number + 1)
    expect(send(prepared, emu.ca_bundle), 403, "AccessDeniedException", "serial number")


def test_wrong_region_in_scope(emu, p256_identity):
    cert, key = p256_identity
    prepared = prepare_create_session(emu, cert, key, region="eu-west-1")
    expect(send(prepared, emu.ca_bundle), 403, "AccessDeniedException", "scoped to a valid region, not 'eu-west-1'")


@pytest.mark.parametrize(("offset", "words"), [(-6, "Signature expired"), (6, "Signature not yet current")])
def test_stale_or_future_date(emu, p256_identity, offset, words):
    cert, key = p256_identity
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=offset)
    prepared = prepare_create_session(emu, cert, key, when=when)
    expect(send(prepared, emu.ca_bundle), 403, "AccessDeniedException", words)
    assert emu.requests[-1]["reason"].startswith("clock skew")


def test_date_within_five_minutes_is_fine(emu, p256_identity):
    cert, key = p256_identity
    when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=4)
    assert send(prepare_create_session(emu, cert, key, when=when), emu.ca_bundle).status_code == 201


def test_emulator_clock_offset_is_honoured(fresh_emu, emu_root):
    key = new_key("p256")
    cert = make_leaf(emu_root, key)
    fresh_emu.advance_clock(600)
    expect(
        send(prepare_create_session(fresh_emu, cert, key), fresh_emu.ca_bundle),
        403,
        "AccessDeniedException",
        "Signature expired",
    )


def test_missing_chain_intermediate(emu, emu_intermediate):
    key = new_key("p256")
    cert = make_leaf(emu_intermediate, key)
    expect(
        send(prepare_create_session(emu, cert, key), emu.ca_bundle),
        403,
        "AccessDeniedException",
        "Untrusted Signing Certificate",
    )
    assert "no certificate named" in emu.requests[-1]["reason"]


def test_rogue_ca_with_the_same_name(emu, emu_root):
    rogue = make_ca(emu_root.cert.subject.rfc4514_string().removeprefix("CN="))
    assert rogue.cert.subject == emu_root.cert.subject
    key = new_key("p256")
    cert = make_leaf(rogue, key)
    expect(
        send(prepare_create_session(emu, cert, key), emu.ca_bundle),
        403,
        "AccessDeniedException",
        "Untrusted Signing Certificate",
    )
    assert "does not verify" in emu.requests[-1]["reason"]


def test_rogue_intermediate_in_chain(emu):
    rogue_root = make_ca("rogue root")
    rogue_middle = make_ca("rogue middle", rogue_root)
    key = new_key("p256")
    cert = make_leaf(rogue_middle, key)
    response = send(prepare_create_session(emu, cert, key, chain=[rogue_middle.cert, rogue_root.cert]), emu.ca_bundle)
    expect(response, 403, "AccessDeniedException", "Untrusted Signing Certificate")


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (
            {
                "not_after": dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1),
                "not_before": dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2),
            },
            "expired",
        ),
        ({"not_before": dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)}, "not valid before"),
        ({"digital_signature": False}, "digitalSignature"),
        ({"key_usage": False}, "KeyUsage"),
        ({"ca": True}, "CA:TRUE"),
        ({"subject": x509.Name([])}, "empty subject"),
    ],
    ids=["expired", "not-yet-valid", "no-digital-signature", "no-key-usage", "ca-leaf", "empty-subject"],
)
def test_unacceptable_leaf(emu, emu_root, options, reason):
    key = new_key("p256")
    cert = make_leaf(emu_root, key, **options)
    expect(
        send(prepare_create_session(emu, cert, key), emu.ca_bundle),
        403,
        "AccessDeniedException",
        "Untrusted Signing Certificate",
    )
    assert reason in emu.requests[-1]["reason"]


def test_x509_v1_leaf(emu, emu_root):
    key = new_key("p256")
    cert = v1_certificate(emu_root, key)
    expect(
        send(prepare_create_session(emu, cert, key), emu.ca_bundle),
        403,
        "AccessDeniedException",
        "Untrusted Signing Certificate",
    )
    assert "v3 is required" in emu.requests[-1]["reason"]


def test_sha1_signed_leaf(emu, emu_root, tmp_path):
    key = new_key("p256")
    cert = sha1_leaf(emu_root, key, tmp_path)
    expect(
        send(prepare_create_session(emu, cert, key), emu.ca_bundle),
        403,
        "AccessDeniedException",
        "Untrusted Signing Certificate",
    )
    assert "SHA1" in emu.requests[-1]["reason"]


def test_sha384_signed_leaf_is_fine(emu, emu_root):
    key = new_key("p256")
    cert = make_leaf(emu_root, key, hash_algorithm=hashes.SHA384())
    assert send(prepare_create_session(emu, cert, key), emu.ca_bundle).status_code == 201


def test_expired_intermediate(emu, emu_root):
    middle = make_ca("expired middle", emu_root, not_after=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5))
    key = new_key("p256")
    cert = make_leaf(middle, key)
    expect(
        send(prepare_create_session(emu, cert, key, chain=[middle.cert]), emu.ca_bundle),
        403,
        "AccessDeniedException",
        "Untrusted",
    )
    assert "expired" in emu.requests[-1]["reason"]


def test_intermediate_without_cert_sign(emu, emu_root):
    middle = make_ca("no-certsign middle", emu_root, cert_sign=False)
    key = new_key("p256")
    cert = make_leaf(middle, key)
    expect(
        send(prepare_create_session(emu, cert, key, chain=[middle.cert]), emu.ca_bundle),
        403,
        "AccessDeniedException",
        "Untrusted",
    )
    assert "keyCertSign" in emu.requests[-1]["reason"]


def test_path_length_constraint(emu):
    from rasign.emulator import Emulator

    root = make_ca("pathlen root", path_length=0)
    middle = make_ca("middle under pathlen 0", root)
    key = new_key("p256")
    cert = make_leaf(middle, key)
    with Emulator([root.pem]) as emulator:
        response = send(prepare_create_session(emulator, cert, key, chain=[middle.cert]), emulator.ca_bundle)
        expect(response, 403, "AccessDeniedException", "Untrusted")
        assert "pathLenConstraint" in emulator.requests[-1]["reason"]


def test_chain_longer_than_five(emu, emu_root):
    chain, issuer = [], emu_root
    for depth in range(6):
        issuer = make_ca(f"level {depth}", issuer)
        chain.insert(0, issuer.cert)
    key = new_key("p256")
    cert = make_leaf(issuer, key)
    expect(
        send(prepare_create_session(emu, cert, key, chain=chain), emu.ca_bundle),
        400,
        "ValidationException",
        "at most 5",
    )


def test_unknown_trust_anchor(emu, p256_identity):
    cert, key = p256_identity
    arn = emu.trust_anchor_arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    expect(
        send(prepare_create_session(emu, cert, key, trust_anchor_arn=arn), emu.ca_bundle),
        404,
        "ResourceNotFoundException",
        "Trust anchor",
    )


def test_unknown_profile(emu, p256_identity):
    cert, key = p256_identity
    arn = emu.profile_arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    expect(
        send(prepare_create_session(emu, cert, key, profile_arn=arn), emu.ca_bundle),
        404,
        "ResourceNotFoundException",
        "Profile",
    )


@pytest.mark.parametrize("role", ["arn:aws:iam::123456789012:role/not-in-profile", ""])
def test_role_not_allowed(emu, p256_identity, role):
    cert, key = p256_identity
    expect(
        send(prepare_create_session(emu, cert, key, role_arn=role), emu.ca_bundle),
        403,
        "AccessDeniedException",
        "not one of the roles",
    )


@pytest.mark.parametrize(
    ("duration", "words"), [(10, "greater than or equal to 900"), (899, "900"), (43201, "less than or equal to 43200")]
)
def test_duration_out_of_range(emu, p256_identity, duration, words):
    cert, key = p256_identity
    expect(
        send(prepare_create_session(emu, cert, key, duration_seconds=duration), emu.ca_bundle),
        400,
        "ValidationException",
        words,
    )


def test_role_max_session_duration(emu_root):
    from rasign.emulator import Emulator

    key = new_key("p256")
    cert = make_leaf(emu_root, key)
    with Emulator([emu_root.pem], profile_duration=7200, role_max_session_duration=3600) as emulator:
        response = send(prepare_create_session(emulator, cert, key, duration_seconds=7200), emulator.ca_bundle)
        expect(response, 400, "ValidationException", "MaxSessionDuration")


def test_session_name_not_accepted(emu, p256_identity):
    cert, key = p256_identity
    response = send(prepare_create_session(emu, cert, key, role_session_name="my-session"), emu.ca_bundle)
    assert expect(response, 403, "AccessDeniedException") == "Not authorized to set roleSessionName."


@pytest.mark.parametrize("name", ["x", "a" * 65, "has space", "bad/slash", "ünicode"])
def test_session_name_pattern(fresh_emu, emu_root, name):
    fresh_emu.profile.accept_role_session_name = True
    key = new_key("p256")
    cert = make_leaf(emu_root, key)
    response = send(prepare_create_session(fresh_emu, cert, key, role_session_name=name), fresh_emu.ca_bundle)
    expect(response, 400, "ValidationException", "roleSessionName")


@pytest.mark.parametrize(
    ("properties", "words"),
    [
        (None, "required"),
        ({f"k{i}": "v" for i in range(51)}, "at most 50"),
        ({"": "v"}, "1-200"),
        ({"k": "v" * 201}, "1-200"),
    ],
    ids=["missing", "too-many", "empty-key", "long-value"],
)
def test_instance_properties_rules(fresh_emu, emu_root, properties, words):
    fresh_emu.profile.require_instance_properties = True
    key = new_key("p256")
    cert = make_leaf(emu_root, key)
    response = send(prepare_create_session(fresh_emu, cert, key, instance_properties=properties), fresh_emu.ca_bundle)
    expect(response, 400, "ValidationException", words)


def test_missing_arn(emu, p256_identity):
    cert, key = p256_identity
    prepared = prepare_create_session(emu, cert, key)
    prepared.url = prepared.url.split("?")[0]
    expect(send(prepared, emu.ca_bundle), 400, "ValidationException", "Member must not be null")


def test_conflicting_arns_in_query_and_body(emu, p256_identity):
    import json

    cert, key = p256_identity
    prepared = prepare_create_session(emu, cert, key)
    prepared.body = json.dumps({"roleArn": "arn:aws:iam::123456789012:role/other"}).encode()
    expect(send(prepared, emu.ca_bundle), 400, "ValidationException", "different values")


def test_unsupported_content_type(emu, p256_identity):
    cert, key = p256_identity
    prepared = prepare_create_session(emu, cert, key, content_type="text/plain")
    expect(send(prepared, emu.ca_bundle), 415, "UnsupportedMediaTypeException", "application/json")


def test_not_json_body(emu, p256_identity):
    cert, key = p256_identity
    prepared = prepare_create_session(emu, cert, key)
    prepared.body = b"{not json"
    expect(send(prepared, emu.ca_bundle), 400, "SerializationException")


def test_garbage_certificate_header(emu, p256_identity):
    cert, key = p256_identity
    prepared = prepare_create_session(emu, cert, key)
    prepared.replace_header("X-Amz-X509", "bm90IGEgY2VydGlmaWNhdGU=")
    expect(send(prepared, emu.ca_bundle), 400, "ValidationException", "X-Amz-X509")


def test_unknown_path(emu):
    import requests

    response = requests.post(emu.endpoint + "/nope", data=b"", verify=emu.ca_bundle, timeout=10)
    expect(response, 404, "UnknownOperationException")


def test_raw_ecdsa_signature_is_refused(emu, p256_identity):
    """Trap 10: PKCS#11/TPM/CNG return r||s, which must be DER-wrapped before sending."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    cert, key = p256_identity

    def raw(message: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    prepared = prepare_create_session(emu, cert, key, sign=raw)
    expect(send(prepared, emu.ca_bundle), 403, "AccessDeniedException", "Invalid signature")


def test_ecdsa_p384_with_sha384_is_refused(emu, emu_root):
    """Trap 1: the hash is SHA-256 whatever the curve."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = new_key("p384")
    cert = make_leaf(emu_root, key)
    prepared = prepare_create_session(emu, cert, key, sign=lambda m: key.sign(m, ec.ECDSA(hashes.SHA384())))
    expect(send(prepared, emu.ca_bundle), 403, "AccessDeniedException", "Invalid signature")


def test_rsa_pss_signature_is_refused(emu, emu_root):
    from cryptography.hazmat.primitives.asymmetric import padding

    key = new_key("rsa")
    cert = make_leaf(emu_root, key)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    prepared = prepare_create_session(emu, cert, key, sign=lambda m: key.sign(m, pss, hashes.SHA256()))
    expect(send(prepared, emu.ca_bundle), 403, "AccessDeniedException", "Invalid signature")


def test_mldsa_with_a_context_string_is_refused(emu_root):
    """ML-DSA is signed in pure mode with an EMPTY context (protocol.md section 4)."""
    pytest.importorskip("cryptography.hazmat.primitives.asymmetric.mldsa")
    from rasign.emulator import Emulator

    key = new_key("mldsa44")
    cert = make_leaf(emu_root, key)
    with Emulator([emu_root.pem]) as emulator:
        prepared = prepare_create_session(emulator, cert, key, sign=lambda m: key.sign(m, b"rasign"))
        expect(send(prepared, emulator.ca_bundle), 403, "AccessDeniedException", "Invalid signature")


def test_revoked_leaf_and_revoked_intermediate(fresh_emu, emu_root):
    middle = make_ca("revocable middle", emu_root)
    key = new_key("p256")
    cert = make_leaf(middle, key)
    assert (
        send(prepare_create_session(fresh_emu, cert, key, chain=[middle.cert]), fresh_emu.ca_bundle).status_code == 201
    )
    fresh_emu.revoke(cert)
    expect(
        send(prepare_create_session(fresh_emu, cert, key, chain=[middle.cert]), fresh_emu.ca_bundle),
        403,
        "AccessDeniedException",
        "Untrusted",
    )
    assert "revoked" in fresh_emu.requests[-1]["reason"]
    other_key = new_key("p256")
    sibling = make_leaf(middle, other_key)
    assert (
        send(
            prepare_create_session(fresh_emu, sibling, other_key, chain=[middle.cert]), fresh_emu.ca_bundle
        ).status_code
        == 201
    )
    fresh_emu.revoke(middle.cert)
    expect(
        send(prepare_create_session(fresh_emu, sibling, other_key, chain=[middle.cert]), fresh_emu.ca_bundle),
        403,
        "AccessDeniedException",
        "Untrusted",
    )


def test_disabled_profile_and_trust_anchor(fresh_emu, p256_identity):
    cert, key = p256_identity
    fresh_emu.profile.enabled = False
    expect(
        send(prepare_create_session(fresh_emu, cert, key), fresh_emu.ca_bundle),
        403,
        "AccessDeniedException",
        "Profile is disabled",
    )
    fresh_emu.profile.enabled = True
    fresh_emu.trust_anchors[0].enabled = False
    expect(
        send(prepare_create_session(fresh_emu, cert, key), fresh_emu.ca_bundle),
        403,
        "AccessDeniedException",
        "Trust anchor is disabled",
    )
