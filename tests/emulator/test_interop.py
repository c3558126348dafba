"""Independent clients against the emulator.

- IRAS (``iam-rolesanywhere-session``, AWS Labs' Python client) signs with botocore's
  SigV4 machinery, puts the ARNs in the JSON body and uses
  ``application/x-amz-json-1.0``: an implementation that shares no code with rasign.
- rasign's own ``credential-process`` in a child process, then boto3 with the printed
  credentials.

Both end with STS GetCallerIdentity, whose SigV4 signature the emulator verifies with the
issued secret.
"""

from __future__ import annotations

import json

import boto3
import pytest
from cryptography.hazmat.primitives import serialization

from rasign.emulator.sessions import session_name_for_serial
from tests.emulator.factory import make_leaf, new_key

pytestmark = pytest.mark.network


def _write_identity(tmp_path, cert, key):
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.mark.parametrize("kind", ["rsa", "p256", "p384"])
def test_iras_session_end_to_end(emu, emu_intermediate, tmp_path, kind):
    iras = pytest.importorskip("iam_rolesanywhere_session")
    key = new_key(kind)
    cert = make_leaf(emu_intermediate, key, cn=f"iras-{kind}")
    cert_path, key_path = _write_identity(tmp_path, cert, key)
    chain_path = tmp_path / "chain.pem"
    chain_path.write_bytes(emu_intermediate.pem)
    session = iras.IAMRolesAnywhereSession(
        profile_arn=emu.profile_arn,
        role_arn=emu.role_arn,
        trust_anchor_arn=emu.trust_anchor_arn,
        certificate=str(cert_path),
        private_key=str(key_path),
        certificate_chain=str(chain_path),
        region=emu.region,
        endpoint=emu.endpoint.removeprefix("https://"),
        verify=emu.ca_bundle,
        session_duration=900,
    ).get_session()
    identity = session.client("sts", endpoint_url=emu.sts_endpoint).get_caller_identity()
    issued = emu.issued[-1]
    assert identity["Arn"] == issued.assumed_role_arn
    assert issued.certificate_serial == cert.serial_number
    assert issued.role_session_name == session_name_for_serial(cert.serial_number)
    created = [r for r in emu.requests if r["path"] == "/sessions"][-1]
    assert created["status"] == 201
    assert created["headers"]["Content-Type"] == "application/x-amz-json-1.0"
    assert created["query"] == ""  # IRAS sends the ARNs in the body
    assert "x-amz-x509-chain" in created["headers"]["Authorization"]


def test_iras_is_refused_for_an_untrusted_certificate(emu, tmp_path):
    iras = pytest.importorskip("iam_rolesanywhere_session")
    from tests.emulator.factory import make_ca

    key = new_key("p256")
    cert = make_leaf(make_ca("stranger root"), key)
    cert_path, key_path = _write_identity(tmp_path, cert, key)
    session = iras.IAMRolesAnywhereSession(
        profile_arn=emu.profile_arn,
        role_arn=emu.role_arn,
        trust_anchor_arn=emu.trust_anchor_arn,
        certificate=str(cert_path),
        private_key=str(key_path),
        region=emu.region,
        endpoint=emu.endpoint.removeprefix("https://"),
        verify=emu.ca_bundle,
    ).get_session()
    from iam_rolesanywhere_session.exceptions import CredentialsRetrievalError

    with pytest.raises(CredentialsRetrievalError, match="Untrusted Signing Certificate"):
        session.client("sts", endpoint_url=emu.sts_endpoint).get_caller_identity()


def test_rasign_credential_process_end_to_end(emu, emu_root, tmp_path):
    from tests.conftest import emulator_args, run_rasign

    key = new_key("p256")
    cert = make_leaf(emu_root, key, cn="rasign-cli")
    cert_path, key_path = _write_identity(tmp_path, cert, key)
    before = emu.create_session_count
    result = run_rasign(
        "credential-process",
        "--certificate",
        str(cert_path),
        "--private-key",
        str(key_path),
        *emulator_args(emu),
        env={"RASIGN_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert emu.create_session_count == before + 1
    assert document["Expiration"] == emu.issued[-1].expiration_text
    identity = boto3.client(
        "sts",
        endpoint_url=emu.sts_endpoint,
        verify=emu.ca_bundle,
        region_name=emu.region,
        aws_access_key_id=document["AccessKeyId"],
        aws_secret_access_key=document["SecretAccessKey"],
        aws_session_token=document["SessionToken"],
    ).get_caller_identity()
    assert identity["Arn"] == emu.issued[-1].assumed_role_arn
    assert document["SecretAccessKey"] not in result.stderr
