"""The agent's event loop: idle and slow clients cost no thread and block nobody, oversize
requests are refused, other uids are refused, and minting happens beside the fast path.

In-process tests use a :class:`FakeClock` and turn the loop by hand (``poll``) or run it
in one background thread; nothing waits on the wall clock to decide an outcome (the
real-time bounds below only keep a broken build from hanging).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from rasign.agent import protocol
from rasign.agent.loop import READ_TIMEOUT, WORKERS, AgentServer
from rasign.agent.server import Agent, Entry
from rasign.clock import FakeClock
from rasign.options import SessionOptions, SignerOptions
from rasign.session import Credentials
from tests.conftest import clean_env, emulator_args, run_rasign

BOUND = 30.0
"""Real seconds after which a wait counts as a hang (never reached when the code works)."""


class _Minter:
    """Stands in for SessionMinter: ``mint`` returns credentials once ``release`` is set."""

    def __init__(self, clock: FakeClock, release: threading.Event | None = None) -> None:
        self.clock = clock
        self.release = release
        self.started = threading.Event()
        self._signer = None
        self._notify_holder: dict = {}

    def mint(self) -> Credentials:
        self.started.set()
        if self.release is not None:
            assert self.release.wait(BOUND), "the test never released the mint"
        return _credentials(self.clock)

    def close(self) -> None:
        self._signer = None


def _credentials(clock: FakeClock) -> Credentials:
    expiry = (clock.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Credentials("ASIAEXAMPLE", "secret", "token", expiry)


def _line(argv: list[str]) -> bytes:
    return protocol.encode({"op": "credentials", "argv": argv, "cwd": "/", "env": {}, "tty": False})


def _identity(agent: Agent, name: str, minter: _Minter) -> bytes:
    """Register identity ``name`` as if its arguments had been parsed once; returns its request line."""
    options = SignerOptions(certificate=f"/{name}.pem", interactive=False)
    original = {
        "pkcs11_pin_env": None,
        "pkcs11_context_pin_env": None,
        "tpm_key_password": None,
        "pkcs8_password": None,
    }
    agent.entries[name] = Entry(name, options, SessionOptions(), None, minter, original)  # type: ignore[arg-type]
    agent._memo[((f"--{name}",), "/", ())] = (name, False, [])
    return _line([f"--{name}"])


def _ready(agent: Agent, clock: FakeClock, name: str = "ready") -> bytes:
    """An identity with fresh credentials, so its request is a repeat the loop answers itself."""
    line = _identity(agent, name, _Minter(clock))
    message = protocol.decode(line)
    answer = agent.handle(message, lambda text: None)
    assert answer["ok"], answer
    agent.remember(line, message, answer)
    assert agent.repeat_answer(line) is not None
    return line


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_server(tmp_path, clock):
    servers: list[AgentServer] = []

    def make(**kwargs) -> AgentServer:
        directory = tmp_path / f"sock{len(servers)}"
        directory.mkdir(mode=0o700)
        server = AgentServer(str(directory / "agent.sock"), Agent(clock=clock), clock=clock, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
        server.server_close()


@pytest.fixture
def running(make_server):
    """A server whose loop runs in one background thread."""
    started: list[tuple[AgentServer, threading.Thread]] = []

    def start(**kwargs) -> AgentServer:
        server: AgentServer = make_server(**kwargs)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.stop()
        thread.join(BOUND)
        assert not thread.is_alive()


def _connect(server: AgentServer) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(BOUND)
    assert server.path is not None
    client.connect(server.path)
    return client


def _answer(client: socket.socket) -> dict:
    reader = client.makefile("rb")
    line = reader.readline(protocol.MAX_LINE + 1)
    assert line.endswith(b"\n"), line[:200]
    return protocol.decode(line)


def _wait_until(predicate, what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.005)


def test_a_client_that_sends_nothing_whole_is_closed_after_the_read_timeout(make_server, clock):
    server = make_server()
    client = _connect(server)
    client.sendall(b'{"op": "sta')  # never finished
    server.poll(0)
    assert server.connection_count == 1
    clock.advance(READ_TIMEOUT - 1, settle=False)
    server.poll(0)
    assert server.connection_count == 1  # still within its time
    clock.advance(1, settle=False)
    server.poll(0)
    assert server.connection_count == 0
    assert client.recv(100) == b""  # closed without an answer, and no thread ever waited on it


def test_a_repeat_request_is_answered_on_the_loop_right_after_accept(make_server, clock):
    server = make_server()
    line = _ready(server.agent, clock)
    client = _connect(server)
    client.sendall(line)
    server.poll(0)  # one turn: accept, read, answer, close
    answer = _answer(client)
    assert answer["ok"] and json.loads(answer["output"])["AccessKeyId"] == "ASIAEXAMPLE"
    assert server.connection_count == 0 and server.busy == 0


def test_at_the_connection_cap_the_oldest_idle_connection_makes_room(make_server, clock):
    server = make_server(max_connections=2)
    line = _ready(server.agent, clock)
    idle = [_connect(server), _connect(server)]
    server.poll(0)
    assert server.connection_count == 2
    client = _connect(server)
    client.sendall(line)
    server.poll(0)
    assert _answer(client)["ok"]
    assert idle[0].recv(100) == b""  # the quietest one was closed
    assert server.evicted == 1 and server.connection_count == 1


def test_an_oversize_request_is_refused_with_one_line_and_never_buffered(make_server, clock):
    server = make_server()
    client = _connect(server)
    client.setblocking(False)
    payload = memoryview(b"x" * (protocol.MAX_LINE + 1))
    sent = 0
    while sent < len(payload):
        try:
            sent += client.send(payload[sent : sent + 65536])
        except BlockingIOError:
            pass
        server.poll(0)
    client.settimeout(BOUND)
    # The agent keeps reading (and discarding) until the client has read the refusal.
    answer = b""
    while not answer.endswith(b"\n"):
        try:
            answer += client.recv(4096)
        except BlockingIOError:
            server.poll(0)
        except TimeoutError:
            raise AssertionError("no refusal") from None
        if not answer.endswith(b"\n"):
            server.poll(0)
    refusal = protocol.decode(answer)
    assert refusal["ok"] is False and refusal["error"]["exit_code"] == 2
    assert "larger than" in refusal["error"]["line"]
    client.close()
    server.poll(0)
    assert server.connection_count == 0
    line = _ready(server.agent, clock)  # and the next client is served
    again = _connect(server)
    again.sendall(line)
    server.poll(0)
    assert _answer(again)["ok"]


def test_another_uid_is_refused_at_the_loop(make_server, clock):
    server = make_server(allowed_uids=frozenset({os.getuid() + 4242}))
    line = _ready(server.agent, clock)
    client = _connect(server)
    client.sendall(line)
    server.poll(0)
    answer = _answer(client)
    assert answer["ok"] is False and "only its own user" in answer["error"]["line"]
    assert "output" not in answer and server.refusals.count == 1


def test_minting_for_two_identities_does_not_hold_up_repeat_answers(running, clock):
    server = running()
    agent = server.agent
    release = threading.Event()
    slow = [_Minter(clock, release), _Minter(clock, release)]
    lines = [_identity(agent, name, minter) for name, minter in zip(("first", "second"), slow, strict=True)]
    ready = _ready(agent, clock)
    minting = [_connect(server) for _ in lines]
    for client, line in zip(minting, lines, strict=True):
        client.sendall(line)
    try:
        # Which one mints first is up to the pool; the other waits for it (minting sets the environment).
        _wait_until(lambda: any(m.started.is_set() for m in slow) and server.busy == 2, "both mints in the pool")
        for _ in range(3):  # repeat requests are answered while both mints are outstanding
            client = _connect(server)
            client.sendall(ready)
            assert _answer(client)["ok"]
            client.close()
        for client in minting:
            client.setblocking(False)
            with pytest.raises(BlockingIOError):
                client.recv(100)  # not answered yet: their mints are still waiting
            client.settimeout(BOUND)
    finally:
        release.set()
    for client in minting:
        assert _answer(client)["ok"]
    assert [entry.mints for name, entry in agent.entries.items() if name != "ready"] == [1, 1]


def test_when_every_slot_is_a_request_in_the_pool_new_clients_wait_in_the_backlog(running, clock):
    server = running(max_connections=1)
    release = threading.Event()
    minter = _Minter(clock, release)
    slow = _identity(server.agent, "slow", minter)
    ready = _ready(server.agent, clock)
    first = _connect(server)
    first.sendall(slow)
    try:
        _wait_until(minter.started.is_set, "the mint started")
        waiting = _connect(server)  # the kernel's backlog takes it; the loop does not accept it yet
        waiting.sendall(ready)
        _wait_until(lambda: not server._accepting, "the loop stops accepting at the cap")
        waiting.setblocking(False)
        with pytest.raises(BlockingIOError):
            waiting.recv(100)
        waiting.settimeout(BOUND)
    finally:
        release.set()
    assert _answer(first)["ok"]
    assert _answer(waiting)["ok"]  # accepted once the mint's slot was free again


def test_malformed_and_stop_requests_are_answered_by_the_pool(running):
    server = running()
    client = _connect(server)
    client.sendall(b"not json\n")
    answer = _answer(client)
    assert answer["ok"] is False and answer["error"]["exit_code"] == 2
    client = _connect(server)
    client.sendall(protocol.encode({"op": "stop"}))
    assert _answer(client) == {"ok": True}
    _wait_until(lambda: server._stopping, "the loop stops after a stop request")


@pytest.mark.network
def test_a_thousand_idle_connections_cost_no_threads_and_block_no_client(start_agent, emulator, pki):
    agent = start_agent()
    cert, key = pki.software_identity(stem="agent-idle")
    args = ("--certificate", str(cert), "--private-key", str(key), *emulator_args(emulator))
    first = run_rasign("credential-process", *args, env=agent.env)
    assert first.returncode == 0, first.stderr
    idle = []
    try:
        for _ in range(1000):
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.connect(agent.socket)
            idle.append(connection)
        _wait_until(lambda: _open_sockets(agent.process.pid) >= 1003, "the agent accepted the idle connections")
        threads = _threads(agent.process.pid)
        assert threads <= 2 + WORKERS  # the loop, the pool, a notice timer at most: no thread per connection
        again = run_rasign("credential-process", *args, env=agent.env)
        assert again.returncode == 0, again.stderr
        assert again.stdout == first.stdout  # from memory, past a thousand silent clients
        status = agent.ask("status", "--json")  # and the pool still answers
        assert status.returncode == 0 and json.loads(status.stdout)[0]["mints"] == 1
    finally:
        for connection in idle:
            connection.close()


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


def _open_sockets(pid: int) -> int:
    directory = Path(f"/proc/{pid}/fd")
    count = 0
    for name in os.listdir(directory):
        try:
            if os.readlink(directory / name).startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


def test_the_agent_command_serves_through_the_loop(tmp_path):
    """``rasign agent`` starts the event-loop server: ``status`` answers and ``stop`` ends it."""
    directory = tmp_path / "run"
    directory.mkdir(mode=0o700)
    path = str(directory / "agent.sock")
    process = subprocess.Popen(
        [sys.executable, "-m", "rasign", "agent", "--socket", path],
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until(lambda: os.path.exists(path) or process.poll() is not None, "the agent listens")
        assert os.stat(path).st_mode & 0o777 == 0o600
        for action in ("status", "stop"):
            done = subprocess.run(
                [sys.executable, "-m", "rasign", "agent", action, "--socket", path],
                env=clean_env(),
                capture_output=True,
                text=True,
                timeout=BOUND,
            )
            assert done.returncode == 0, done.stderr
        assert process.wait(BOUND) == 0
        assert not os.path.exists(path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
