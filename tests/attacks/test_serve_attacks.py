"""Attacks on ``rasign serve`` (issue 9): each one sent for real, each one refused.

* DNS rebinding: a page on ``evil.example`` resolving to 127.0.0.1 sends
  ``Host: evil.example:PORT``; IMDS token PUT and GET, ECS and /healthz all answer 400.
* Request smuggling: every framing RFC 9112 calls ambiguous gets 400 (or 501/505), the
  connection closes, and the request hidden behind it is never answered.
* Token eviction: thousands of token PUTs, an earlier token still works.
* ECS bypass: ``--ecs`` alone serves no IMDS path.
* Unix socket peers: another uid is refused by SO_PEERCRED even when the socket file is
  world-writable; ``--unix-socket-allow-uid`` admits it.
* Connection flood: 2,000 idle connections held open while a normal client still gets
  credentials, with the server's thread count bounded.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import urllib.request

import pytest

from tests.attacks.conftest import exchange, statuses
from tests.conftest import emulator_args, run_rasign
from tests.delivery.helpers import ROLE_PATH, identity_args, serve_args, start_rasign

pytestmark = pytest.mark.network

TTL = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_RE = re.compile(rb"\r\n\r\n([A-Za-z0-9_-]{76})")


@pytest.fixture(scope="module")
def imds(emulator, module_identity, tmp_path_factory):
    cert, key = module_identity
    tmp = tmp_path_factory.mktemp("attack-imds")
    running = start_rasign("serve", serve_args(emulator, cert, key, "--debug"), tmp)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def ecs(emulator, module_identity, tmp_path_factory):
    cert, key = module_identity
    tmp = tmp_path_factory.mktemp("attack-ecs")
    token_file = tmp / "auth"
    running = start_rasign("serve", serve_args(emulator, cert, key, "--ecs", "--auth-token-file", str(token_file)), tmp)
    running.auth = token_file.read_text().strip()
    yield running
    running.stop()


def _put(port: int, host: str, ttl: str = "60", close: bool = True) -> bytes:
    last = "Connection: close\r\n" if close else ""
    return f"PUT /latest/api/token HTTP/1.1\r\nHost: {host}\r\n{TTL}: {ttl}\r\nContent-Length: 0\r\n{last}\r\n".encode()


def _get(path: str, host: str, close: bool = True, **headers: str) -> bytes:
    """A GET that asks the server to close afterwards, so the reader knows when it is complete."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    last = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}{last}\r\n".encode()


def _token(port: int) -> str:
    response, _ = exchange(port, _put(port, f"127.0.0.1:{port}"))
    match = TOKEN_RE.search(response)
    assert match, response
    return match.group(1).decode()


def _body(response: bytes) -> bytes:
    return response.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in response else b""


# -- DNS rebinding


REBOUND = [
    "evil.example:{port}",
    "evil.example",
    "127.0.0.1",
    "127.0.0.1:1",
    "localhost",
    "127.0.0.1.evil.example:{port}",
    "localhost:{port}.evil.example",
    "[::1]",
    "0.0.0.0:{port}",
    "127.0.0.2:{port}",
    "localhost.:{port}",
]


@pytest.mark.parametrize("host", REBOUND)
def test_rebinding_host_cannot_get_an_imds_token(imds, host):
    port = imds.port
    response, closed = exchange(port, _put(port, host.format(port=port)))
    assert statuses(response) == [400], response
    assert b"invalid Host header" in response and not TOKEN_RE.search(response)
    assert closed


def test_rebinding_host_cannot_read_imds_credentials_even_with_a_token(imds):
    port, role = imds.port, imds.ready["role_name"]
    value = _token(port)
    for path in (ROLE_PATH, f"{ROLE_PATH}/{role}"):
        response, closed = exchange(port, _get(path, f"evil.example:{port}", **{"X-aws-ec2-metadata-token": value}))
        assert statuses(response) == [400] and closed
        assert b"AccessKeyId" not in response and role.encode() not in _body(response)


def test_rebinding_host_cannot_read_health(imds):
    response, closed = exchange(imds.port, _get("/healthz", f"evil.example:{imds.port}"))
    assert statuses(response) == [400] and closed and b"expiration" not in response


def test_rebinding_host_cannot_read_ecs_credentials(ecs):
    response, closed = exchange(ecs.port, _get("/v1/credentials", f"evil.example:{ecs.port}", Authorization=ecs.auth))
    assert statuses(response) == [400] and closed and b"AccessKeyId" not in response


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}"])
def test_loopback_host_names_of_the_listener_are_accepted(imds, host):
    port, role = imds.port, imds.ready["role_name"]
    value = _token(port)
    response, _ = exchange(
        port, _get(f"{ROLE_PATH}/{role}", host.format(port=port), **{"X-aws-ec2-metadata-token": value})
    )
    assert statuses(response) == [200] and json.loads(_body(response))["Code"] == "Success"


def test_missing_and_duplicate_host_are_refused(imds):
    port = imds.port
    for request in (
        b"GET /healthz HTTP/1.1\r\n\r\n",
        b"GET /healthz HTTP/1.0\r\n\r\n",
        f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example\r\n\r\n".encode(),
    ):
        response, closed = exchange(port, request)
        assert statuses(response) == [400] and closed, request


# -- request smuggling


def _smuggling_cases(port: int) -> list[tuple[str, bytes, int]]:
    host = f"Host: 127.0.0.1:{port}\r\n"
    hidden = f"PUT /latest/api/token HTTP/1.1\r\n{host}{TTL}: 60\r\n\r\n"
    front = f"PUT /latest/api/token HTTP/1.1\r\n{host}X-Forwarded-For: 10.0.0.1\r\n"
    chunked = f"0\r\n\r\n{hidden}"
    cases = [
        ("CL+TE", f"{front}Content-Length: {len(chunked)}\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}", 400),
        ("TE+CL", f"{front}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n{chunked}", 400),
        ("TE alone", f"{front}Transfer-Encoding: chunked\r\n\r\n{chunked}", 501),
        ("TE obfuscated", f"{front}Transfer-Encoding: xchunked\r\nContent-Length: 3\r\n\r\n{chunked}", 400),
        ("two differing CL", f"{front}Content-Length: 0\r\nContent-Length: {len(hidden)}\r\n\r\n{hidden}", 400),
        ("two equal CL", f"{front}Content-Length: 0\r\nContent-Length: 0\r\n\r\n{hidden}", 400),
        ("CL list", f"{front}Content-Length: 0, {len(hidden)}\r\n\r\n{hidden}", 400),
        ("CL sign", f"{front}Content-Length: +0\r\n\r\n{hidden}", 400),
        ("CL hex", f"{front}Content-Length: 0x0\r\n\r\n{hidden}", 400),
        ("CL negative", f"{front}Content-Length: -1\r\n\r\n{hidden}", 400),
        ("CL huge", f"{front}Content-Length: 99999999999999999999\r\n\r\n{hidden}", 400),
        ("CL too large", f"{front}Content-Length: 100000\r\n\r\n{hidden}", 413),
        ("space before colon", f"{front}Content-Length : {len(hidden)}\r\n\r\n{hidden}", 400),
        ("tab before colon", f"{front}Content-Length\t: {len(hidden)}\r\n\r\n{hidden}", 400),
        ("space in name", f"{front}X Forwarded: 1\r\n\r\n{hidden}", 400),
        ("obs-fold", f"{front}X-Note: a\r\n  folded: yes\r\n\r\n{hidden}", 400),
        ("header first line folded", f"PUT /latest/api/token HTTP/1.1\r\n {host}\r\n{hidden}", 400),
        ("no colon", f"{front}Content-Length\r\n\r\n{hidden}", 400),
        ("bare LF", f"PUT /latest/api/token HTTP/1.1\n{host}X-Forwarded-For: 1\n\n{hidden}", 400),
        ("bare CR", f"{front}X-Note: a\rContent-Length: 0\r\n\r\n{hidden}", 400),
        ("NUL in value", f"{front}X-Note: a\x00b\r\n\r\n{hidden}", 400),
        ("double space in request line", f"PUT  /latest/api/token HTTP/1.1\r\n{host}\r\n{hidden}", 400),
        ("absolute-form target", f"PUT http://127.0.0.1/latest/api/token HTTP/1.1\r\n{host}\r\n{hidden}", 400),
        ("lower-case version", f"PUT /latest/api/token http/1.1\r\n{host}\r\n{hidden}", 400),
        ("HTTP/2.0 version", f"PUT /latest/api/token HTTP/2.0\r\n{host}\r\n{hidden}", 505),
        ("HTTP/0.9 request", f"GET /healthz\r\n\r\n{hidden}", 400),
        ("escape in target", f"GET /healthz\x1b[2J HTTP/1.1\r\n{host}\r\n{hidden}", 400),
        ("missing host", f"PUT /latest/api/token HTTP/1.1\r\nContent-Length: 0\r\n\r\n{hidden}", 400),
    ]
    return [(name, text.encode("latin-1"), status) for name, text, status in cases]


SMUGGLING_NAMES = [name for name, _, _ in _smuggling_cases(1)]


@pytest.mark.parametrize("name", SMUGGLING_NAMES)
def test_smuggling_form_is_refused_and_nothing_behind_it_is_answered(imds, name):
    _, payload, status = next(case for case in _smuggling_cases(imds.port) if case[0] == name)
    response, closed = exchange(imds.port, payload)
    assert statuses(response) == [status], response
    assert b"Connection: close" in response and closed
    assert not TOKEN_RE.search(response)  # the hidden token PUT never ran


def test_the_server_still_answers_after_every_smuggling_attempt(imds):
    port = imds.port
    for _, payload, _ in _smuggling_cases(port):
        exchange(port, payload, timeout=3)
    assert _token(port)
    log = imds.log()
    assert "Traceback" not in log and "\x1b" not in log  # bad requests are logged, never raw


@pytest.mark.parametrize(
    "header", ["X-Forwarded-For: 10.0.0.1", "x-forwarded-for: 10.0.0.1", "Forwarded: for=10.0.0.1"]
)
def test_proxied_requests_get_no_token(imds, header):
    port = imds.port
    raw = f"PUT /latest/api/token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{TTL}: 60\r\n{header}\r\n\r\n"
    response, closed = exchange(port, (raw + raw.replace(header + "\r\n", "")).encode())
    assert statuses(response) == [400] and not TOKEN_RE.search(response)
    assert closed  # the clean request pipelined behind it is not answered either


def test_pipelined_valid_requests_are_all_answered_in_order(imds):
    port = imds.port
    batch = (
        _put(port, f"127.0.0.1:{port}", close=False)
        + _get("/healthz", f"localhost:{port}", close=False)
        + _put(port, f"[::1]:{port}")
    )
    response, _ = exchange(port, batch)
    assert statuses(response) == [200, 200, 200]


# -- token eviction


def test_thousands_of_token_puts_do_not_evict_an_earlier_token(imds):
    port, role = imds.port, imds.ready["role_name"]
    earlier = _token(port)
    flood = _put(port, f"127.0.0.1:{port}", ttl="21600", close=False) * 3000
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        sock.sendall(flood + _get("/healthz", f"127.0.0.1:{port}"))
        received = bytearray()
        while chunk := sock.recv(1 << 20):
            received += chunk
    finally:
        sock.close()
    assert statuses(bytes(received)).count(200) == 3001
    response, _ = exchange(
        port, _get(f"{ROLE_PATH}/{role}", f"127.0.0.1:{port}", **{"X-aws-ec2-metadata-token": earlier})
    )
    assert statuses(response) == [200] and json.loads(_body(response))["Code"] == "Success"


# -- ECS bypass


@pytest.mark.parametrize(
    "request_bytes",
    [
        "PUT /latest/api/token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n",
        "GET /latest/meta-data/iam/security-credentials HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n",
        "GET /latest/meta-data/iam/security-credentials/{role} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n",
        "GET /latest/meta-data/iam/security-credentials/{role}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n",
    ],
    ids=["token", "role-list", "credentials", "credentials-slash"],
)
def test_ecs_mode_serves_no_imds_path(ecs, request_bytes):
    raw = (request_bytes + "Connection: close\r\n\r\n").format(port=ecs.port, role=ecs.ready["role_name"]).encode()
    response, _ = exchange(ecs.port, raw)
    assert statuses(response) == [404] and b"AccessKeyId" not in response and not TOKEN_RE.search(response)


def test_ecs_mode_still_needs_the_token_and_keeps_health(ecs):
    port = ecs.port
    response, _ = exchange(port, _get("/v1/credentials", f"127.0.0.1:{port}"))
    assert statuses(response) == [401] and b"AccessKeyId" not in response
    response, _ = exchange(port, _get("/v1/credentials", f"127.0.0.1:{port}", Authorization=ecs.auth))
    assert statuses(response) == [200] and json.loads(_body(response))["AccessKeyId"]
    response, _ = exchange(port, _get("/healthz", f"localhost:{port}"))
    assert statuses(response) == [200] and json.loads(_body(response))["healthy"] is True
    assert ecs.ready["imds_endpoint"] is None


# -- unix socket peers


def _as_uid(uid: int, path: str, request: bytes) -> bytes:
    """Connect to ``path`` from a forked child running as ``uid``; return what it received."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop to uid, talk to the socket, report through the pipe
        status = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(10)
            data = b""
            try:
                sock.connect(path)
                try:
                    sock.sendall(request)
                except OSError:
                    pass  # a refused peer may be half-closed already; its answer is still there to read
                while chunk := sock.recv(65536):
                    data += chunk
                    if b"\r\n\r\n" in data and b"Connection: close" not in data:
                        break
            except OSError as err:
                data = f"OSError {err.errno}".encode()
            os.write(write_end, data)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    received = b""
    while chunk := os.read(read_end, 65536):
        received += chunk
    os.close(read_end)
    os.waitpid(pid, 0)
    return received


@pytest.fixture
def socket_dir():
    """A directory uid 65534 can reach (pytest's tmp_path is 0700)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as another uid")
    path = tempfile.mkdtemp(prefix="rasign-sock-", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))
    os.rmdir(path)


def test_unix_socket_alone_has_no_tcp_and_refuses_another_uid(emulator, identity, tmp_path, socket_dir):
    cert, key = identity
    path = os.path.join(socket_dir, "creds.sock")
    args = [*identity_args(cert, key), *emulator_args(emulator), "--listen", f"unix:{path}"]
    running = start_rasign("serve", args, tmp_path)
    try:
        assert running.ready["listen"] == [] and running.ready["port"] is None
        assert running.ready["unix_socket"] == path
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"
        put = b"PUT /latest/api/token HTTP/1.1\r\nHost: anything\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n"
        # Loosen the file mode so only SO_PEERCRED stands between uid 65534 and the server.
        os.chmod(path, 0o666)
        for _ in range(3):
            refused = _as_uid(65534, path, put)
            assert statuses(refused) == [403] and not TOKEN_RE.search(refused), refused
        # The server's own uid is served, with any Host (a unix socket has no rebinding).
        own, _ = exchange(0, put, unix=path)
        assert statuses(own) == [200] and TOKEN_RE.search(own)
    finally:
        assert running.stop() == 0
    assert running.log().count("refused a connection") == 1 and "uid 65534" in running.log()  # no log flood
    assert not os.path.exists(path)


def test_unix_socket_allow_uid_admits_that_uid(emulator, identity, tmp_path, socket_dir):
    cert, key = identity
    path = os.path.join(socket_dir, "shared.sock")
    args = [
        *identity_args(cert, key),
        *emulator_args(emulator),
        "--listen",
        f"unix:{path}",
        "--unix-socket-allow-uid",
        "65534",
    ]
    running = start_rasign("serve", args, tmp_path)
    try:
        put = b"PUT /latest/api/token HTTP/1.1\r\nHost: localhost\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n"
        admitted = _as_uid(65534, path, put)
        assert statuses(admitted) == [200] and TOKEN_RE.search(admitted), admitted
    finally:
        assert running.stop() == 0


def test_unix_socket_in_a_missing_directory_fails_before_create_session(emulator, identity, tmp_path):
    cert, key = identity
    before = emulator.create_session_count
    result = run_rasign(
        "serve",
        *identity_args(cert, key),
        *emulator_args(emulator),
        "--port",
        "0",
        "--unix-socket",
        str(tmp_path / "missing" / "s.sock"),
    )
    assert result.returncode == 13, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0] and "Traceback" not in result.stderr
    assert result.stdout == "" and emulator.create_session_count == before


# -- connection flood


def _threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        return int(next(line for line in handle if line.startswith("Threads:")).split()[1])


def test_two_thousand_idle_connections_cost_no_threads_and_block_no_client(imds):
    port, role = imds.port, imds.ready["role_name"]
    pid = imds.ready["pid"]
    threads_before = _threads(pid)
    idle = []
    try:
        for _ in range(2000):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        # Half-open requests too (slowloris): a head that never ends.
        for sock in idle[:500]:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1")
        # A normal client (urllib, a new connection per request) still gets its credentials.
        put = urllib.request.Request(f"http://127.0.0.1:{port}/latest/api/token", method="PUT", headers={TTL: "60"})
        value = urllib.request.urlopen(put, timeout=5).read().decode()
        get = urllib.request.Request(
            f"http://127.0.0.1:{port}{ROLE_PATH}/{role}", headers={"X-aws-ec2-metadata-token": value}
        )
        document = json.loads(urllib.request.urlopen(get, timeout=5).read())
        assert document["Code"] == "Success"
        assert len(os.listdir(f"/proc/{pid}/fd")) >= 2000  # the flood really is held open
        assert _threads(pid) <= threads_before + 1
    finally:
        for sock in idle:
            sock.close()


def test_boto3_still_gets_credentials_during_a_flood(imds, emulator, tmp_path):
    from tests.delivery.helpers import aws_env

    idle = [socket.create_connection(("127.0.0.1", imds.port), timeout=10) for _ in range(1000)]
    try:
        env = aws_env(tmp_path, AWS_EC2_METADATA_SERVICE_ENDPOINT=f"http://127.0.0.1:{imds.port}/")
        script = (
            "import boto3, sys\n"
            "session = boto3.Session(region_name='us-east-1')\n"
            "sts = session.client('sts', endpoint_url=sys.argv[1], verify=sys.argv[2])\n"
            "print(sts.get_caller_identity()['Arn'])\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script, emulator.sts_endpoint, emulator.ca_bundle],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert imds.ready["role_name"] in result.stdout
    finally:
        for sock in idle:
            sock.close()


def test_keep_alive_client_survives_while_a_flood_comes_and_goes(imds):
    port = imds.port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("PUT", "/latest/api/token", headers={TTL: "60"})
        value = conn.getresponse().read().decode()
        for _ in range(3):
            flood = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(300)]
            for sock in flood:
                sock.close()
            conn.request("GET", ROLE_PATH, headers={"X-aws-ec2-metadata-token": value})
            response = conn.getresponse()
            assert (response.status, response.read().decode()) == (200, imds.ready["role_name"])
    finally:
        conn.close()


# -- process hardening


def test_serve_process_has_core_files_disabled(imds):
    with open(f"/proc/{imds.ready['pid']}/limits") as handle:
        line = next(line for line in handle if line.startswith("Max core file size"))
    assert line.split()[4:6] == ["0", "0"], line


def test_bogus_role_arn_exits_like_credential_process(emulator, identity):
    cert, key = identity
    args = [*identity_args(cert, key), *emulator_args(emulator)]
    args[args.index("--role-arn") + 1] = "bogus"
    before = emulator.create_session_count
    served = run_rasign("serve", *args, "--port", "0")
    process = run_rasign("credential-process", *args)
    assert served.returncode == process.returncode == 3
    assert served.stderr.splitlines()[0].split("(")[0] == process.stderr.splitlines()[0].split("(")[0]
    assert len(served.stderr.strip().splitlines()) == 1 and served.stdout == ""
    assert emulator.create_session_count == before
