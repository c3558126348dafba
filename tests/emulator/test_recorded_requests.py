"""Requests recorded from independent implementations, replayed against the emulator.

The known-answer vectors (``tests/vectors``, see its README) hold requests produced by
the official Go helper 1.1.1 (v1 RSA, v2 P-384) and by other clients (v3, v4-v6). The
emulator must accept them byte for byte, which pins its verifier to the real protocol
rather than to rasign's own reading of it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
import requests
from cryptography import x509

from rasign.emulator import Emulator
from rasign.emulator.chain import validate_path
from rasign.emulator.received import ReceivedRequest, parse_amz_date
from rasign.emulator.rejection import Rejection
from rasign.emulator.verify import verify_x509_signature

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def load(name: str) -> dict:
    return json.loads((VECTORS / f"{name}.json").read_text())


def received(vector: dict, *, body: bytes | None = None) -> ReceivedRequest:
    inputs = vector["inputs"]
    headers = [tuple(h) for h in inputs["headers"]] + [tuple(h) for h in inputs.get("unsigned_headers", [])]
    headers.append(("Authorization", vector["expected"]["authorization"]))
    return ReceivedRequest(
        method=inputs["method"],
        path=inputs["path"],
        query=inputs["raw_query"],
        headers=tuple(headers),
        body=inputs["body"].encode() if body is None else body,
    )


@pytest.mark.parametrize("name", ["v1", "v2", "v3", "self-computed"])
def test_recorded_signature_verifies(name):
    vector = load(name)
    now = parse_amz_date(vector["inputs"]["x_amz_date"])
    caller = verify_x509_signature(received(vector), region=vector["inputs"]["region"], now=now)
    assert caller.canonical_request == vector["expected"]["canonical_request"]
    assert caller.string_to_sign == vector["expected"]["string_to_sign"]


@pytest.mark.parametrize("name", ["v1", "v2"])
def test_recorded_request_with_one_byte_changed_is_refused(name):
    vector = load(name)
    now = parse_amz_date(vector["inputs"]["x_amz_date"])
    with pytest.raises(Rejection, match="Invalid signature"):
        verify_x509_signature(
            received(vector, body=b'{"durationSeconds":3601}'), region=vector["inputs"]["region"], now=now
        )


@pytest.mark.parametrize("name", ["v1", "v2", "v4", "v5", "v6"])
def test_recorded_certificate_chains_validate(name):
    inputs = load(name)["inputs"]
    leaf = x509.load_pem_x509_certificate((VECTORS / inputs["certificate_file"]).read_bytes())
    chain = [c for f in inputs["chain_files"] for c in x509.load_pem_x509_certificates((VECTORS / f).read_bytes())]
    anchors = x509.load_pem_x509_certificates((VECTORS / inputs["trust_anchor_file"]).read_bytes())
    # v4-v6 were signed with a made-up date before their certificates' validity: check
    # the chains at the present time instead, when every certificate is valid.
    path = validate_path(leaf, chain, anchors, dt.datetime.now(dt.timezone.utc))
    assert path[0] == leaf and path[-1] in anchors


@pytest.mark.network
@pytest.mark.parametrize("name", ["v1", "v2"])
def test_official_helper_request_replayed_over_https(name):
    """The Go helper's exact request (chunked body, Host with port) gets credentials."""
    vector = load(name)
    inputs = vector["inputs"]
    arns = dict(inputs["query"])
    account = arns["roleArn"].split(":")[4]
    signed_at = parse_amz_date(inputs["x_amz_date"])
    offset = (signed_at - dt.datetime.now(dt.timezone.utc)).total_seconds()
    with Emulator(
        region=inputs["region"], account_id=account, role_name=arns["roleArn"].rsplit("/", 1)[1], clock_offset=offset
    ) as emu:
        emu.add_trust_anchor((VECTORS / inputs["trust_anchor_file"]).read_bytes(), arn=arns["trustAnchorArn"])
        emu.add_profile("recorded", [arns["roleArn"]], arn=arns["profileArn"])
        headers = dict(inputs["headers"])
        headers["Authorization"] = vector["expected"]["authorization"]
        headers["User-Agent"] = dict(inputs["unsigned_headers"])["User-Agent"]
        body = inputs["body"].encode()
        response = requests.post(
            f"{emu.endpoint}{inputs['path']}?{inputs['raw_query']}",
            data=iter([body[:5], body[5:]]),  # a generator: sent chunked, like the helper did
            headers=headers,
            verify=emu.ca_bundle,
            timeout=10,
        )
        assert response.status_code == 201, response.text
        assert emu.requests[-1]["headers"]["Transfer-Encoding"] == "chunked"
        serial = x509.load_der_x509_certificate(base64.b64decode(headers["X-Amz-X509"])).serial_number
        assert emu.issued[-1].certificate_serial == serial
        assert response.json()["credentialSet"][0]["roleArn"] == arns["roleArn"]
