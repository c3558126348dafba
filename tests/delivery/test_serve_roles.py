"""serve holding several roles on one key: one PIN entry, one token login, one refresh schedule per role."""

from __future__ import annotations

import json

import pytest

from tests.conftest import emulator_args
from tests.delivery.helpers import ROLE_PATH, get_imds, request, start_rasign, token

pytestmark = [pytest.mark.network]


def _ecs(port: int, path: str, auth: str) -> tuple[int, dict]:
    status, _, body = request("127.0.0.1", port, "GET", path, {"Authorization": auth})
    return status, json.loads(body)


@pytest.mark.softhsm
def test_two_roles_on_one_softhsm_token_with_exactly_one_login(make_emulator, hsm, tmp_path):
    if hsm.spy is None:
        pytest.skip("OpenSC's pkcs11-spy.so not found")
    emulator = make_emulator(extra_roles=["rasign-ops"])
    ops_arn = emulator.extra_role_arns[0]
    log = tmp_path / "spy.log"
    pin_file = tmp_path / "pin"
    pin_file.write_text(hsm.pin("rasign-a"))
    uri = "pkcs11:token=rasign-a;object=ec-p256"
    running = start_rasign(
        "serve",
        [
            "--pkcs11-lib",
            hsm.spy,
            "--pkcs11-pin-file",
            str(pin_file),
            "--certificate",
            uri,
            *emulator_args(emulator),
            "--port",
            "0",
            "--ecs",
            "--imds",
            "--also-role",
            ops_arn,
        ],
        tmp_path,
        env={**hsm.env, "PKCS11SPY": hsm.module, "PKCS11SPY_OUTPUT": str(log)},
    )
    try:
        port = running.ready["port"]
        default = emulator.role_arn.rsplit("/", 1)[-1]
        assert running.ready["roles"] == {"rasign-ops": running.ready["ecs_uri"].rstrip("/") + "/rasign-ops"}
        imds_token = token(port)
        status, _, listed = get_imds(port, ROLE_PATH + "/", imds_token)
        assert status == 200 and listed.decode() == default  # IMDS lists the default role
        status, _, default_body = get_imds(port, f"{ROLE_PATH}/{default}", imds_token)
        status_ops, _, ops_body = get_imds(port, f"{ROLE_PATH}/rasign-ops", imds_token)
        assert status == 200 and status_ops == 200
        assert json.loads(default_body)["AccessKeyId"] != json.loads(ops_body)["AccessKeyId"]
        with open(running.ready["auth_token_file"]) as handle:
            auth = handle.read().strip()
        path = running.ready["ecs_uri"].split(str(port), 1)[1]
        code, ecs_default = _ecs(port, path, auth)
        code_ops, ecs_ops = _ecs(port, path.rstrip("/") + "/rasign-ops", auth)
        assert code == 200 and code_ops == 200
        assert ecs_default["RoleArn"] == emulator.role_arn and ecs_ops["RoleArn"] == ops_arn
        status, _, health = request("127.0.0.1", port, "GET", "/healthz")
        report = json.loads(health)
        assert status == 200 and report["healthy"] and report["roles"]["rasign-ops"]["healthy"]
        issued = {creds.role_arn for creds in emulator.issued}
        assert {emulator.role_arn, ops_arn} <= issued
    finally:
        running.stop()
    logins = [line for line in log.read_text().splitlines() if line.split(": ")[-1].strip() == "C_Login"]
    assert len(logins) == 1, logins  # two roles minted on one login


def test_also_role_with_the_same_name_is_refused_before_any_request(emulator, identity, tmp_path):
    from tests.conftest import run_rasign

    cert, key = identity
    before = emulator.create_session_count
    done = run_rasign(
        "serve",
        "--certificate",
        str(cert),
        "--private-key",
        str(key),
        *emulator_args(emulator),
        "--port",
        "0",
        "--also-role",
        emulator.role_arn,
    )
    assert done.returncode == 2 and "already served" in done.stderr and done.stderr.count("\n") == 1
    assert emulator.create_session_count == before
