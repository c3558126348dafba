"""``rasign serve`` as IMDSv2: protocol details, security checks, real boto3 clients."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat

import pytest

from tests.conftest import emulator_args, run_rasign
from tests.delivery.helpers import (
    ROLE_PATH,
    TOKEN_HEADER,
    aws_env,
    get_imds,
    identity_args,
    put_token,
    request,
    serve_args,
    start_rasign,
    token,
    wait_for,
)
from tests.delivery.helpers import (
    TOKEN_TTL_HEADER as TOKEN_TTL,
)
from tests.support.sdk import aws_cli_arn, boto3_caller

pytestmark = pytest.mark.network

MEMBERS = ["AccessKeyId", "SecretAccessKey", "Token", "Code", "Type", "Expiration", "LastUpdated"]


@pytest.fixture(scope="module")
def served(emulator, pki, tmp_path_factory):
    """One serve process for every test here that only sends it requests (none changes its state)."""
    cert, key = pki.software_identity(stem="serve-imds-shared")
    running = start_rasign("serve", serve_args(emulator, cert, key, "--debug"), tmp_path_factory.mktemp("served"))
    yield running
    assert running.stop() == 0


def test_all_six_paths_answer_directly_without_redirects(served):
    port = served.port
    role = served.ready["role_name"]
    for path in ("/latest/api/token", "/latest/api/token/"):
        status, _, body = put_token(port, "60", path=path)
        assert status == 200 and len(body) >= 32
    value = token(port)
    for path in (ROLE_PATH, ROLE_PATH + "/"):
        status, headers, body = get_imds(port, path, value)
        assert (status, body.decode()) == (200, role)
        assert 0 < int(headers["x-aws-ec2-metadata-token-ttl-seconds"]) <= 60
    for path in (f"{ROLE_PATH}/{role}", f"{ROLE_PATH}/{role}/"):
        status, headers, body = get_imds(port, path, value)
        assert status == 200, body
        document = json.loads(body)
        assert list(document) == MEMBERS
        assert document["Code"] == "Success" and document["Type"] == "AWS-HMAC"
        assert document["Expiration"].endswith("Z") and document["AccessKeyId"]
        assert "location" not in headers
        assert "x-aws-ec2-metadata-token-ttl-seconds" in headers


def test_role_name_is_last_path_element_of_role_arn(served, emulator):
    assert served.ready["role_name"] == emulator.role_arn.rsplit("/", 1)[-1]


@pytest.mark.parametrize("ttl", ["0", "21601", "-5", "abc", "1.5", ""])
def test_token_ttl_out_of_range_is_refused(served, ttl):
    status, _, body = put_token(served.port, ttl)
    assert status == 400 and body == b"invalid token TTL"


@pytest.mark.parametrize("ttl", ["1", "21600", "+30"])
def test_token_ttl_limits_are_accepted_and_echoed(served, ttl):
    status, headers, _ = put_token(served.port, ttl)
    assert status == 200
    assert headers["x-aws-ec2-metadata-token-ttl-seconds"] == ttl


def test_token_ttl_defaults_to_six_hours(served):
    status, headers, _ = put_token(served.port, None)
    assert status == 200 and headers["x-aws-ec2-metadata-token-ttl-seconds"] == "21600"


def test_get_without_token_is_refused(served):
    for path in (ROLE_PATH, f"{ROLE_PATH}/{served.ready['role_name']}"):
        status, _, body = get_imds(served.port, path, None)
        assert (status, body) == (401, b"no token provided")


def test_unknown_token_is_refused(served):
    status, _, body = get_imds(served.port, ROLE_PATH, "x" * 100)
    assert (status, body) == (401, b"invalid token provided")


def test_x_forwarded_for_is_refused_on_put_and_get(served):
    status, _, body = put_token(served.port, "60", headers={"X-Forwarded-For": "10.0.0.1"})
    assert status == 400 and b"X-Forwarded-For" in body
    value = token(served.port)
    role = served.ready["role_name"]
    status, _, body = get_imds(served.port, f"{ROLE_PATH}/{role}", value, headers={"X-Forwarded-For": "10.0.0.1"})
    assert status == 400 and b"AccessKeyId" not in body


def test_wrong_methods_are_405(served):
    assert request("127.0.0.1", served.port, "GET", "/latest/api/token")[0] == 405
    value = token(served.port)
    status, _, _ = request("127.0.0.1", served.port, "PUT", ROLE_PATH, {TOKEN_HEADER: value})
    assert status == 405


def test_unknown_role_and_path_are_404(served):
    value = token(served.port)
    assert get_imds(served.port, f"{ROLE_PATH}/someone-else", value)[0] == 404
    assert get_imds(served.port, "/latest/meta-data/instance-id", value)[0] == 404


def test_listens_on_ipv6_loopback_too(served):
    if not any(item.startswith("[::1]") for item in served.ready["listen"]):
        pytest.skip("IPv6 loopback unavailable on this machine")
    value = token(served.port, host="::1")
    status, _, body = get_imds(served.port, f"{ROLE_PATH}/{served.ready['role_name']}", value, host="::1")
    assert status == 200 and json.loads(body)["Code"] == "Success"


def test_health_reports_freshness_without_secrets(served):
    value = token(served.port)
    _, _, creds = get_imds(served.port, f"{ROLE_PATH}/{served.ready['role_name']}", value)
    document = json.loads(creds)
    status, headers, body = request("127.0.0.1", served.port, "GET", "/healthz")
    assert status == 200 and headers["content-type"] == "application/json"
    health = json.loads(body)
    assert health["healthy"] is True and health["state"] == "fresh"
    assert health["expiration"] == document["Expiration"]
    assert 0 < health["seconds_left"] <= 3600
    for secret in (document["AccessKeyId"], document["SecretAccessKey"], document["Token"]):
        assert secret not in body.decode()


def test_boto3_gets_credentials_through_imds_endpoint(served, emulator, tmp_path):
    env = aws_env(tmp_path, AWS_EC2_METADATA_SERVICE_ENDPOINT=f"http://127.0.0.1:{served.port}/")
    output = boto3_caller(env, emulator)
    assert output["method"] == "iam-role"
    assert emulator.role_arn.rsplit("/", 1)[-1] in output["arn"]


def test_serve_exits_cleanly_on_sigterm(emulator, identity, tmp_path):
    cert, key = identity
    running = start_rasign("serve", serve_args(emulator, cert, key), tmp_path)
    assert running.stop(signal.SIGTERM) == 0
    assert "Traceback" not in running.log()
    assert "shutting down" in running.log()


def test_unix_socket_is_private_and_serves_imds(emulator, identity, tmp_path):
    cert, key = identity
    sock_path = tmp_path / "creds.sock"
    running = start_rasign("serve", serve_args(emulator, cert, key, "--unix-socket", str(sock_path)), tmp_path)
    try:
        assert stat.S_IMODE(os.stat(sock_path).st_mode) == 0o600
        status, _, body = put_token(0, "60", unix=str(sock_path))
        assert status == 200
        status, _, creds = get_imds(0, f"{ROLE_PATH}/{running.ready['role_name']}", body.decode(), unix=str(sock_path))
        assert status == 200 and json.loads(creds)["Code"] == "Success"
    finally:
        assert running.stop() == 0
    assert not sock_path.exists()


def test_non_loopback_listen_is_refused_without_opt_in(emulator, identity):
    cert, key = identity
    result = run_rasign("serve", *identity_args(cert, key), *emulator_args(emulator), "--listen", "0.0.0.0:0")
    assert result.returncode == 2
    assert result.stderr.startswith("rasign: error: refusing to listen on non-loopback address")
    assert "Traceback" not in result.stderr


def _primary_address() -> str | None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_non_loopback_clients_need_the_auth_token(emulator, identity, tmp_path):
    address = _primary_address()
    if address is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    cert, key = identity
    token_file = tmp_path / "auth-token"
    running = start_rasign(
        "serve",
        serve_args(
            emulator, cert, key, "--listen", "0.0.0.0:0", "--allow-non-loopback", "--auth-token-file", str(token_file)
        ),
        tmp_path,
    )
    try:
        auth = token_file.read_text().strip()
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        # From a non-loopback source address: no token, wrong token -> 401
        status, _, body = put_token(running.port, "60", host=address)
        assert status == 401 and b"AccessKeyId" not in body
        status, _, _ = put_token(running.port, "60", host=address, headers={"Authorization": "wrong"})
        assert status == 401
        # With the token everything works, IMDS and ECS alike.
        status, _, imds_token = put_token(running.port, "60", host=address, headers={"Authorization": auth})
        assert status == 200
        status, _, creds = get_imds(
            running.port,
            f"{ROLE_PATH}/{running.ready['role_name']}",
            imds_token.decode(),
            host=address,
            headers={"Authorization": auth},
        )
        assert status == 200 and json.loads(creds)["Code"] == "Success"
        # Loopback clients keep plain IMDSv2 semantics.
        assert put_token(running.port, "60")[0] == 200
        assert "non-loopback" in running.log()
    finally:
        running.stop()


def test_hop_limit_is_applied_to_accepted_sockets():
    """In-process: the real listeners and event loop, a responder that reports the socket's TTL."""
    import threading

    from rasign.serve.http11 import render
    from rasign.serve.listeners import ListenSpec, open_tcp
    from rasign.serve.loop import EventLoopServer

    def respond(request, conn):
        ipv6 = conn.listener.spec.family == socket.AF_INET6
        level, option = (socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS) if ipv6 else (socket.IPPROTO_IP, socket.IP_TTL)
        return render(200, str(conn.sock.getsockopt(level, option)).encode()), False

    tested = 0
    for host in ("127.0.0.1", "::1"):
        try:
            listeners = open_tcp([ListenSpec(host, 0)], hop_limit=1)
        except Exception:
            continue
        server = EventLoopServer(listeners, respond)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            assert request(host, listeners[0].port, "GET", "/")[2] == b"1"
            tested += 1
        finally:
            server.stop()
            thread.join(5)
            server.close()
    assert tested >= 1


@pytest.mark.parametrize("value", ["0", "256"])
def test_invalid_hop_limit_is_a_usage_error(emulator, identity, value):
    cert, key = identity
    result = run_rasign("serve", *identity_args(cert, key), *emulator_args(emulator), "--hop-limit", value)
    assert result.returncode == 2 and "--hop-limit" in result.stderr


def test_port_in_use_fails_before_anything_else(emulator, identity):
    cert, key = identity
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        before = emulator.create_session_count
        result = run_rasign(
            "serve",
            *identity_args(cert, key),
            *emulator_args(emulator),
            "--listen",
            f"127.0.0.1:{blocker.getsockname()[1]}",
        )
        assert result.returncode == 13
        assert "failed to create listener" in result.stderr
        assert emulator.create_session_count == before
    finally:
        blocker.close()


def test_tokens_are_stateless_and_expire_by_the_injected_clock():
    from rasign.serve.tokens import TOKEN_LENGTH, TokenSigner

    now = [1000.0]
    signer = TokenSigner(clock=lambda: now[0])
    first = signer.issue(10)
    assert len(first) == TOKEN_LENGTH and signer.remaining(first) == pytest.approx(10)
    now[0] += 9.5
    assert signer.remaining(first) == pytest.approx(0.5)
    now[0] += 0.5
    assert signer.remaining(first) is None
    # Another process (another key) cannot validate it, nor can a tampered copy pass.
    fresh = signer.issue(60)
    assert TokenSigner(clock=lambda: now[0]).remaining(fresh) is None
    flipped = fresh[:10] + ("A" if fresh[10] != "A" else "B") + fresh[11:]
    assert signer.remaining(flipped) is None
    assert signer.remaining(fresh + "A") is None and signer.remaining("") is None


def test_oversized_body_is_refused(served):
    status, _, _ = request(
        "127.0.0.1",
        served.port,
        "PUT",
        "/latest/api/token",
        {"Content-Length": str(1 << 20), "X-aws-ec2-metadata-token-ttl-seconds": "60"},
    )
    assert status == 413


@pytest.mark.awscli
def test_aws_cli_gets_credentials_through_imds_endpoint(served, emulator, tmp_path):
    env = aws_env(
        tmp_path, AWS_EC2_METADATA_SERVICE_ENDPOINT=f"http://127.0.0.1:{served.port}/", AWS_DEFAULT_REGION="us-east-1"
    )
    assert emulator.role_arn.rsplit("/", 1)[-1] in aws_cli_arn(env, emulator)


@pytest.mark.parametrize(
    "flag,value",
    [
        ("--max-connections", "0"),
        ("--idle-timeout", "nan"),
        ("--idle-timeout", "-1"),
        ("--idle-timeout", "inf"),
        ("--allow-host", "evil example"),
        ("--allow-host", "a/b"),
        ("--unix-socket-allow-uid", "-1"),
        ("--listen", "unix:"),
        ("--listen", "127.0.0.1:99999"),
        ("--ecs-path", "/a b"),
    ],
)
def test_bad_endpoint_flags_are_usage_errors_before_any_network(emulator, identity, flag, value):
    cert, key = identity
    before = emulator.create_session_count
    result = run_rasign("serve", *identity_args(cert, key), *emulator_args(emulator), "--port", "0", flag, value)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert result.stdout == "" and emulator.create_session_count == before


def test_allow_host_admits_an_extra_name(emulator, identity, tmp_path):
    cert, key = identity
    running = start_rasign("serve", serve_args(emulator, cert, key, "--allow-host", "host.docker.internal"), tmp_path)
    try:
        port = running.port
        good = {"Host": f"host.docker.internal:{port}", TOKEN_TTL: "60"}
        assert request("127.0.0.1", port, "PUT", "/latest/api/token", good)[0] == 200
        bad = {"Host": f"other.internal:{port}", TOKEN_TTL: "60"}
        assert request("127.0.0.1", port, "PUT", "/latest/api/token", bad)[0] == 400
    finally:
        running.stop()


def test_ecs_with_imds_serves_both(emulator, identity, tmp_path):
    cert, key = identity
    token_file = tmp_path / "auth"
    running = start_rasign(
        "serve", serve_args(emulator, cert, key, "--ecs", "--imds", "--auth-token-file", str(token_file)), tmp_path
    )
    try:
        assert running.ready["imds_endpoint"] and running.ready["ecs_uri"]
        status, _, body = get_imds(running.port, f"{ROLE_PATH}/{running.ready['role_name']}", token(running.port))
        assert status == 200 and json.loads(body)["Code"] == "Success"
        status, _, body = request(
            "127.0.0.1", running.port, "GET", "/v1/credentials", {"Authorization": token_file.read_text().strip()}
        )
        assert status == 200 and json.loads(body)["AccessKeyId"]
    finally:
        running.stop()


def test_encrypted_key_still_refreshes_after_the_environment_is_scrubbed(emulator, identity, tmp_path):
    """harden_process() removes RASIGN_PKCS8_PASSWORD; the file backend reopens the key on every refresh."""
    from cryptography.hazmat.primitives import serialization

    cert, key = identity
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"correct horse"),
        )
    )
    running = start_rasign(
        "serve",
        serve_args(emulator, cert, encrypted, "--min-refresh-interval", "0.2"),
        tmp_path,
        env={"RASIGN_PKCS8_PASSWORD": "correct horse"},
    )
    try:
        first = json.loads(get_imds(running.port, f"{ROLE_PATH}/{running.ready['role_name']}", token(running.port))[2])
        running.process.send_signal(signal.SIGHUP)
        wait_for(lambda: running.log().count("credentials refreshed") >= 2, 20, message="a second refresh")
        second = json.loads(get_imds(running.port, f"{ROLE_PATH}/{running.ready['role_name']}", token(running.port))[2])
        assert second["AccessKeyId"] != first["AccessKeyId"]
    finally:
        assert running.stop() == 0
    assert "correct horse" not in running.log()
