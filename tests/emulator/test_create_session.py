"""CreateSession requests the emulator must accept, and the exact response shape."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from tests.emulator.factory import make_ca, make_leaf, new_key
from tests.support.emulator_client import prepare_create_session, send

pytestmark = pytest.mark.network


@pytest.mark.parametrize("kind", ["rsa", "p256", "p384", "p521"])
@pytest.mark.parametrize("arns_in", ["query", "body"])
def test_valid_request_is_accepted(emu, emu_root, kind, arns_in):
    key = new_key(kind)
    cert = make_leaf(emu_root, key, cn=f"client-{kind}")
    before = emu.create_session_count
    response = send(prepare_create_session(emu, cert, key, arns_in=arns_in), emu.ca_bundle)
    assert response.status_code == 201, response.text
    assert emu.create_session_count == before + 1
    entry = emu.requests[-1]
    assert entry["status"] == 201
    assert entry["headers"]["Authorization"].startswith(
        {"rsa": "AWS4-X509-RSA-SHA256"}.get(kind, "AWS4-X509-ECDSA-SHA256") + f" Credential={cert.serial_number}/"
    )


def test_response_shape_matches_protocol_section_7(emu, emu_root):
    key = new_key("p256")
    cert = make_leaf(emu_root, key, cn="shape-client", serial=0xABC)
    response = send(prepare_create_session(emu, cert, key, duration_seconds=900), emu.ca_bundle)
    assert response.status_code == 201
    assert response.headers["x-amzn-RequestId"]
    document = response.json()
    assert set(document) == {"credentialSet", "subjectArn"}
    assert re.fullmatch(r"arn:aws:rolesanywhere:us-east-1:123456789012:subject/[0-9a-f-]{36}", document["subjectArn"])
    (item,) = document["credentialSet"]
    assert set(item) == {"assumedRoleUser", "credentials", "packedPolicySize", "roleArn", "sourceIdentity"}
    assert item["roleArn"] == emu.role_arn
    assert item["sourceIdentity"] == "CN=shape-client"
    assert item["assumedRoleUser"]["arn"] == "arn:aws:sts::123456789012:assumed-role/rasign-test-role/0abc"
    assert item["assumedRoleUser"]["assumedRoleId"].endswith(":0abc")
    creds = item["credentials"]
    assert re.fullmatch(r"ASIA[A-Z0-9]{16}", creds["accessKeyId"])
    assert len(creds["secretAccessKey"]) == 40
    assert len(creds["sessionToken"]) > 300
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", creds["expiration"])
    expires = dt.datetime.strptime(creds["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    remaining = (expires - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert 880 < remaining <= 900, "effective duration is min(profile 3600, request 900)"
    issued = emu.issued[-1]
    assert issued.access_key_id == creds["accessKeyId"]
    assert issued.secret_access_key not in repr(issued)
    assert issued.session_token not in repr(issued)


def test_profile_duration_caps_the_request(fresh_emu, emu_root):
    fresh_emu.profile.duration_seconds = 1800
    key = new_key("p256")
    cert = make_leaf(emu_root, key)
    response = send(prepare_create_session(fresh_emu, cert, key, duration_seconds=43200), fresh_emu.ca_bundle)
    assert response.status_code == 201
    assert (fresh_emu.issued[-1].expiration - fresh_emu.now()).total_seconds() == pytest.approx(1800, abs=5)


def test_no_body_and_no_duration_uses_profile_default(emu, p256_identity):
    cert, key = p256_identity
    prepared = prepare_create_session(emu, cert, key, duration_seconds=None)
    assert prepared.body == b""
    assert send(prepared, emu.ca_bundle).status_code == 201
    assert (emu.issued[-1].expiration - emu.now()).total_seconds() == pytest.approx(3600, abs=5)


def test_iras_content_type_is_accepted(emu, p256_identity):
    cert, key = p256_identity
    prepared = prepare_create_session(emu, cert, key, arns_in="body", content_type="application/x-amz-json-1.0")
    assert send(prepared, emu.ca_bundle).status_code == 201


def test_chain_with_intermediates_in_any_order(emu, emu_root):
    middle = make_ca("middle CA", emu_root)
    lower = make_ca("lower CA", middle)
    key = new_key("p256")
    cert = make_leaf(lower, key)
    for chain in ([lower.cert, middle.cert], [middle.cert, lower.cert]):
        response = send(prepare_create_session(emu, cert, key, chain=chain), emu.ca_bundle)
        assert response.status_code == 201, response.text


def test_role_session_name_accepted_when_profile_allows(fresh_emu, emu_root):
    fresh_emu.profile.accept_role_session_name = True
    key = new_key("p256")
    cert = make_leaf(emu_root, key)
    response = send(prepare_create_session(fresh_emu, cert, key, role_session_name="build-42@ci"), fresh_emu.ca_bundle)
    assert response.status_code == 201, response.text
    assert response.json()["credentialSet"][0]["assumedRoleUser"]["arn"].endswith("/rasign-test-role/build-42@ci")


def test_second_role_of_profile(emu, p256_identity):
    cert, key = p256_identity
    second = next(arn for arn in emu.profile.role_arns if arn.endswith("/second-role"))
    response = send(prepare_create_session(emu, cert, key, role_arn=second), emu.ca_bundle)
    assert response.status_code == 201
    assert response.json()["credentialSet"][0]["roleArn"] == second


def test_instance_properties_required_and_given(fresh_emu, emu_root):
    fresh_emu.profile.require_instance_properties = True
    key = new_key("p256")
    cert = make_leaf(emu_root, key)
    response = send(
        prepare_create_session(fresh_emu, cert, key, instance_properties={"host": "build-7"}), fresh_emu.ca_bundle
    )
    assert response.status_code == 201, response.text
    assert fresh_emu.issued[-1].instance_properties == {"host": "build-7"}


@pytest.mark.parametrize(
    ("cn", "expected"),
    [("a" * 61, "CN=" + "a" * 61), ("b" * 62, ""), (None, "ID=")],
)
def test_source_identity_rules(emu, emu_root, cn, expected):
    key = new_key("p256")
    cert = make_leaf(emu_root, key, cn=cn)
    response = send(prepare_create_session(emu, cert, key), emu.ca_bundle)
    assert response.status_code == 201
    source = response.json()["credentialSet"][0]["sourceIdentity"]
    if expected == "ID=":
        digits = format(cert.serial_number, "x")
        assert source == "ID=" + digits.rjust(len(digits) + len(digits) % 2, "0")
    else:
        assert source == expected


def test_mldsa_leaf_is_accepted(emu_root):
    pytest.importorskip("cryptography.hazmat.primitives.asymmetric.mldsa")
    from rasign.emulator import Emulator

    key = new_key("mldsa65")
    with Emulator([emu_root.pem]) as emulator:
        cert = make_leaf(emu_root, key)
        prepared = prepare_create_session(emulator, cert, key)
        assert prepared.header("Authorization").startswith("AWS4-X509-MLDSA ")
        assert send(prepared, emulator.ca_bundle).status_code == 201


def test_mldsa_trust_anchor_signs_an_ec_leaf():
    pytest.importorskip("cryptography.hazmat.primitives.asymmetric.mldsa")
    from rasign.emulator import Emulator

    root = make_ca("ML-DSA root", key_kind="mldsa44")
    key = new_key("p256")
    with Emulator([root.pem]) as emulator:
        cert = make_leaf(root, key)
        assert send(prepare_create_session(emulator, cert, key), emulator.ca_bundle).status_code == 201


def test_second_trust_anchor(emu_root):
    from rasign.emulator import Emulator

    other = make_ca("other root")
    key = new_key("p256")
    cert = make_leaf(other, key)
    with Emulator([emu_root.pem, other.pem]) as emulator:
        second = emulator.trust_anchors[1].arn
        assert (
            send(prepare_create_session(emulator, cert, key, trust_anchor_arn=second), emulator.ca_bundle).status_code
            == 201
        )
        refused = send(prepare_create_session(emulator, cert, key), emulator.ca_bundle)
        assert refused.status_code == 403
        assert refused.json() == {"message": "Untrusted Signing Certificate"}


def test_constructor_errors_are_config_errors(emu_root):
    from rasign.emulator import Emulator
    from rasign.errors import ConfigError

    with pytest.raises(ConfigError, match="not a PEM certificate"):
        Emulator([b"garbage"])
    with pytest.raises(ConfigError, match="profile duration"):
        Emulator([emu_root.pem], profile_duration=0)
    from cryptography.hazmat.primitives.serialization import Encoding

    leaf_pem = make_leaf(emu_root, new_key()).public_bytes(Encoding.PEM)
    with pytest.raises(ConfigError, match="not a CA"):
        Emulator([leaf_pem])
    assert Emulator([emu_root.pem.decode()]).trust_anchors[0].certificates == [emu_root.cert]


def test_arns_are_stable_for_the_same_configuration(emu_root):
    from rasign.emulator import Emulator

    first, second = Emulator([emu_root.pem]), Emulator([emu_root.pem], region="eu-west-1")
    assert first.trust_anchor_arn == Emulator([emu_root.pem]).trust_anchor_arn
    assert first.profile_arn == Emulator([emu_root.pem]).profile_arn
    assert ":eu-west-1:" in second.profile_arn and second.profile_arn != first.profile_arn
    assert first.role_arn == "arn:aws:iam::123456789012:role/rasign-test-role"
    assert Emulator(region="cn-north-1").profile_arn.startswith("arn:aws-cn:rolesanywhere:cn-north-1:")


def test_short_profile_duration_for_fast_expiry_tests(emu_root):
    from rasign.emulator import Emulator
    from tests.support.emulator_client import running_emulator

    key = new_key("p256")
    cert = make_leaf(emu_root, key)
    with running_emulator([emu_root.pem], profile_duration=20) as emulator:
        assert isinstance(emulator, Emulator)
        response = send(prepare_create_session(emulator, cert, key, duration_seconds=3600), emulator.ca_bundle)
        assert response.status_code == 201
        assert (emulator.issued[-1].expiration - emulator.now()).total_seconds() == pytest.approx(20, abs=2)
