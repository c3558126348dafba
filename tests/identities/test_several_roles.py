"""Several roles from one unlock in the Python API: two roles and a chained one, exactly one C_Login."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import clean_env
from tests.pkcs11.conftest import hsm  # noqa: F401 - the session's SoftHSM tokens

pytestmark = [pytest.mark.softhsm, pytest.mark.network]

URI = "pkcs11:token=rasign-a;object=ec-p256"
CHILD = """
import json, sys
import rasign.api
from rasign.identities import ChainStep
spec = json.loads(sys.argv[1])
roles = {"app": spec["app"], "audit": {"role_arn": spec["audit"], "session_duration": 900},
         "deploy": {"role_arn": spec["app"], "chain": [ChainStep(role_arn=spec["deploy"])],
                    "sts_endpoint": spec["sts"]}}
with rasign.api.sessions(roles, certificate=spec["uri"], private_key=spec["uri"], pkcs11_lib=spec["lib"],
                         pkcs11_pin_env="PIN", interactive=False, trust_anchor_arn=spec["ta"],
                         profile_arn=spec["profile"], endpoint=spec["endpoint"], ca_bundle=spec["ca"]) as by_role:
    arns = {name: session.client("sts", endpoint_url=spec["sts"], verify=spec["ca"]).get_caller_identity()["Arn"]
            for name, session in by_role.items()}
    print(json.dumps({"arns": arns, "opened": by_role.shared.opened}))
"""


def test_api_holds_several_roles_with_one_login(hsm, pki, tmp_path):  # noqa: F811 - fixture
    from rasign.emulator import Emulator
    from rasign.emulator.assume_role import add_trusted_role

    if hsm.spy is None:
        pytest.skip("OpenSC's pkcs11-spy.so not found")
    with Emulator(trust_anchor_pems=[pki.root_pem], extra_roles=["audit"]) as emu:
        deploy = add_trusted_role(emu.state, "deploy", account_id="210987654321", trusted=[emu.role_arn])
        spec = {
            "uri": URI,
            "lib": hsm.spy,
            "ta": emu.trust_anchor_arn,
            "profile": emu.profile_arn,
            "app": emu.role_arn,
            "audit": emu.extra_role_arns[0],
            "deploy": deploy,
            "endpoint": emu.endpoint,
            "ca": str(emu.ca_bundle),
            "sts": emu.sts_endpoint,
        }
        spy_log = tmp_path / "spy.log"
        env = clean_env(
            {**hsm.env, "PIN": hsm.pin("rasign-a"), "PKCS11SPY": hsm.module, "PKCS11SPY_OUTPUT": str(spy_log)}
        )
        result = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(spec)], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["opened"] == 1
        assert report["arns"]["app"].startswith(f"arn:aws:sts::{emu.account_id}:assumed-role/{emu.role.name}/")
        assert report["arns"]["audit"].startswith(f"arn:aws:sts::{emu.account_id}:assumed-role/audit/")
        assert report["arns"]["deploy"] == "arn:aws:sts::210987654321:assumed-role/deploy/rasign-deploy"
        # 900 s credentials are inside botocore's 15-minute advisory window, so "audit" refreshes
        # at once: a fourth CreateSession, still without a second login.
        assert emu.create_session_count >= 3
    calls = [line.split(": ")[-1].strip() for line in spy_log.read_text().splitlines()]
    assert calls.count("C_Login") == 1, calls.count("C_Login")
