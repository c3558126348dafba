"""exec and export hand credentials to real clients: sh evaluates export, boto3 children use exec."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, clean_env, emulator_args, run_rasign
from tests.identities.conftest import identity_table, write_private

pytestmark = pytest.mark.network

CALLER = (
    "import boto3, sys\n"
    "sts = boto3.client('sts', endpoint_url=sys.argv[1], verify=sys.argv[2])\n"
    "print(sts.get_caller_identity()['Arn'])\n"
)


def test_export_evaluated_by_sh(software_identity, emulator, tmp_path):
    cert, key = software_identity
    config = write_private(tmp_path / "config.toml", identity_table("prod", cert, key, emulator))
    script = (
        f'eval "$("{sys.executable}" -m rasign export --identity prod)" || exit 9\n'
        f'"{sys.executable}" -c "$CALLER" "$STS" "$CA"\n'
        'echo "region=$AWS_REGION expires=$AWS_CREDENTIAL_EXPIRATION"\n'
    )
    env = clean_env(
        {"RASIGN_CONFIG": str(config), "CALLER": CALLER, "STS": emulator.sts_endpoint, "CA": str(emulator.ca_bundle)}
    )
    result = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"arn:aws:sts::{emulator.account_id}:assumed-role/" in result.stdout
    assert "region=us-east-1 expires=20" in result.stdout


@pytest.mark.parametrize("fmt", ["fish", "powershell", "json"])
def test_export_formats_quote_values(fmt):
    from rasign.commands.export import render

    text = render({"AWS_SESSION_TOKEN": "a'b\\c$d"}, fmt)
    expected = {
        "fish": "set -gx AWS_SESSION_TOKEN 'a\\'b\\\\c$d'\n",
        "powershell": "$Env:AWS_SESSION_TOKEN = 'a''b\\c$d'\n",
    }
    if fmt == "json":
        assert json.loads(text) == {"AWS_SESSION_TOKEN": "a'b\\c$d"}
    else:
        assert text == expected[fmt]


def test_exec_puts_credentials_in_the_environment_and_returns_the_exit_code(software_identity, emulator, tmp_path):
    cert, key = software_identity
    child = CALLER + "import os; sys.exit(int(os.environ['RASIGN_EXEC'] == 'prod') * 7)\n"
    config = write_private(tmp_path / "config.toml", identity_table("prod", cert, key, emulator))
    result = run_rasign(
        "exec",
        "--identity",
        "prod",
        "--",
        sys.executable,
        "-c",
        child,
        emulator.sts_endpoint,
        str(emulator.ca_bundle),
        env={"RASIGN_CONFIG": str(config), "AWS_PROFILE": "would-compete", "RASIGN_PKCS11_PIN": "1"},
    )
    assert result.returncode == 7, result.stderr
    assert f"arn:aws:sts::{emulator.account_id}:assumed-role/" in result.stdout


def test_exec_refuses_to_nest(software_identity, emulator):
    cert, key = software_identity
    args = ["exec", "--certificate", str(cert), "--private-key", str(key), *emulator_args(emulator), "--", "true"]
    result = run_rasign(*args, env={"RASIGN_EXEC": "prod"})
    assert result.returncode == 2 and "already holds credentials from rasign exec" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    allowed = run_rasign("exec", "--allow-nested", *args[1:], env={"RASIGN_EXEC": "prod"})
    assert allowed.returncode == 0, allowed.stderr


def test_exec_without_command_is_a_usage_error():
    result = run_rasign("exec", "--")
    assert result.returncode == 2 and "no command to run" in result.stderr


REFRESHING_CHILD = (
    "import boto3, os, sys, time\n"
    "assert 'AWS_ACCESS_KEY_ID' not in os.environ\n"
    "session = boto3.Session()\n"
    "sts = session.client('sts', endpoint_url=sys.argv[1], verify=sys.argv[2], region_name='us-east-1')\n"
    "seen = []\n"
    "deadline = time.monotonic() + 60\n"
    "while time.monotonic() < deadline:\n"
    "    arn = sts.get_caller_identity()['Arn']\n"  # the emulator verifies the signature made with these keys
    "    key = session.get_credentials().get_frozen_credentials().access_key\n"
    "    if key not in seen:\n"
    "        seen.append(key)\n"
    "    if len(seen) >= 2:\n"
    "        break\n"
    "    time.sleep(0.2)\n"
    "print(len(seen), arn)\n"
    "sys.exit(0 if len(seen) >= 2 else 3)\n"
)


def test_exec_server_keeps_a_long_running_child_fresh(pki, tmp_path):
    """Short-lived credentials (12 s, refreshed 10 s ahead): the child's SDK calls cross a real refresh."""
    from rasign.emulator import Emulator

    cert, key = pki.software_identity("ec", stem="exec-server")
    with Emulator(trust_anchor_pems=[pki.root_pem], profile_duration=12) as emu:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "rasign",
                "exec",
                "--server",
                "--certificate",
                str(cert),
                "--private-key",
                str(key),
                *emulator_args(emu),
                "--session-duration",
                "900",
                "--refresh-ahead",
                "10",
                "--min-refresh-interval",
                "0.5",
                "--",
                sys.executable,
                "-c",
                REFRESHING_CHILD,
                emu.sts_endpoint,
                str(emu.ca_bundle),
            ],
            env=clean_env({"PYTHONPATH": str(REPO)}),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr + result.stdout
        assert result.stdout.startswith("2 arn:aws:sts::")
        assert emu.create_session_count >= 2


SIGNAL_CHILD = (
    "import os, signal, sys, urllib.request\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(42))\n"
    "print(os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'], flush=True)\n"
    "signal.pause()\n"
)


def test_exec_server_forwards_signals_and_leaves_nothing_running(software_identity, emulator):
    import signal
    import urllib.error
    import urllib.request

    cert, key = software_identity
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rasign",
            "exec",
            "--server",
            "--certificate",
            str(cert),
            "--private-key",
            str(key),
            *emulator_args(emulator),
            "--",
            sys.executable,
            "-c",
            SIGNAL_CHILD,
        ],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.stderr.read() if process.poll() is not None else url
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)  # no token: refused
        assert refused.value.code == 401
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 42
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)  # the endpoint went away with the child


CROWDED_CHILD = (
    "import json, os, socket, sys, urllib.parse, urllib.request\n"
    "url = os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI']\n"
    "port = urllib.parse.urlsplit(url).port\n"
    # Another local user's idle connections: more than the endpoint keeps, none sending a byte.
    "idle = [socket.create_connection(('127.0.0.1', port)) for _ in range(300)]\n"
    "half = socket.create_connection(('127.0.0.1', port))\n"
    "half.sendall(b'GET /rasign/credentials HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n')\n"  # never finished
    "request = urllib.request.Request(url, headers={'Authorization': os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN']})\n"
    "print(json.load(urllib.request.urlopen(request, timeout=30))['AccessKeyId'])\n"
    "conn = socket.create_connection(('127.0.0.1', port))\n"
    "conn.sendall(b'GET /rasign/credentials HTTP/1.1\\r\\nHost: rebind.example:%d\\r\\nAuthorization: '\n"
    "    % port + os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN'].encode() + b'\\r\\n\\r\\n')\n"
    "print(conn.recv(200).split(b'\\r\\n')[0].decode())\n"
    "health = socket.create_connection(('127.0.0.1', port))\n"
    "health.sendall(b'GET /healthz HTTP/1.1\\r\\nHost: 127.0.0.1:%d\\r\\n\\r\\n' % port)\n"
    "print(health.recv(200).split(b'\\r\\n')[0].decode())\n"
)


def test_exec_server_endpoint_serves_its_child_past_idle_connections_and_refuses_other_hosts(
    software_identity, emulator
):
    """The endpoint is serve's own stack: a crowd of idle connections evicts nothing but the idle, and a
    request naming another host (DNS rebinding) is refused even with the token."""
    cert, key = software_identity
    done = subprocess.run(
        [
            sys.executable, "-m", "rasign", "exec", "--server", "--certificate", str(cert), "--private-key", str(key),
            *emulator_args(emulator), "--", sys.executable, "-c", CROWDED_CHILD,
        ],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    key_id, rebound, health = done.stdout.splitlines()
    assert key_id.startswith("ASIA") and len(key_id) == 20, done.stdout  # the emulator's session key
    assert rebound.startswith("HTTP/1.1 400"), rebound
    assert health.startswith("HTTP/1.1 404"), health  # no status page for other local users
