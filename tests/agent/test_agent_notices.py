"""Touch notices reach the person's terminal even when the AWS CLI swallows stderr, and
systemd socket activation hands the agent its socket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rasign.agent.notices import NoticeSigner
from tests.conftest import REPO, clean_env, emulator_args

pytestmark = pytest.mark.network

SLOW_BACKEND = textwrap.dedent(
    '''
    """A test plug-in backend: the file backend, but each signature waits like a key wanting a touch."""
    import os, time
    from rasign.backend import Backend, backend_named
    from rasign.agent.notices import NoticeSigner

    class _Slow(NoticeSigner):
        def __init__(self, inner):
            super().__init__(inner, lambda line: None, threshold=1e9)
        def sign(self, message, digest="SHA256"):
            time.sleep(float(os.environ.get("SLOWKEY_DELAY", "0.6")))  # the person touching the key
            return self._inner.sign(message, digest)

    class SlowBackend(Backend):
        name = "slow"
        @classmethod
        def open(cls, options):
            return _Slow(backend_named("file").open(options))
    '''
)


@pytest.fixture
def slow_plugin(tmp_path) -> Path:
    """A plug-in registered through a real entry point (a dist-info directory on the path)."""
    site = tmp_path / "plugins"
    (site / "slowkey-1.0.dist-info").mkdir(parents=True)
    (site / "slowkey.py").write_text(SLOW_BACKEND)
    (site / "slowkey-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: slowkey\nVersion: 1.0\n")
    (site / "slowkey-1.0.dist-info" / "entry_points.txt").write_text("[rasign.backends]\nslow = slowkey:SlowBackend\n")
    return site


def test_notice_signer_calls_notify_only_for_slow_signatures():
    class Inner:
        backend_name = "fake"

        def __init__(self, delay: float) -> None:
            self.delay = delay

        def sign(self, message, digest="SHA256"):
            time.sleep(self.delay)
            return b"sig"

        def describe(self) -> str:
            return "fake key"

    seen: list[str] = []
    assert NoticeSigner(Inner(0.0), seen.append, threshold=0.5).sign(b"m") == b"sig"  # type: ignore[arg-type]
    assert seen == []
    NoticeSigner(Inner(0.3), seen.append, threshold=0.05).sign(b"m")  # type: ignore[arg-type]
    assert len(seen) == 1 and "touch it" in seen[0] and "fake key" in seen[0]


@pytest.mark.awscli
def test_touch_notice_reaches_the_terminal_under_the_aws_cli(start_agent, emulator, pki, slow_plugin, tmp_path):
    aws = os.path.join(os.path.dirname(sys.executable), "aws")
    if not os.path.exists(aws):
        pytest.skip("AWS CLI not installed in the virtualenv")
    path = f"{slow_plugin}:{REPO}"
    agent = start_agent(extra_env={"PYTHONPATH": path, "RASIGN_TOUCH_NOTICE_AFTER": "0.1"})
    cert, key = pki.software_identity(stem="agent-touch")
    process = " ".join(
        [
            sys.executable,
            "-m",
            "rasign",
            "credential-process",
            "--backend",
            "slow",
            "--certificate",
            str(cert),
            "--private-key",
            str(key),
            *emulator_args(emulator),
        ]
    )
    config = tmp_path / "config"
    config.write_text(f"[profile touch]\nregion = us-east-1\ncredential_process = {process}\n")
    env = {
        **agent.env,
        "PYTHONPATH": path,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    # The AWS CLI runs with a pty as its controlling terminal; its stdout and stderr are pipes.
    wrapper = tmp_path / "aws_wrapper.py"
    wrapper.write_text(f"import os, sys\nos.execv({aws!r}, [{aws!r}] + sys.argv[1:])\n")
    done, tty = _run_with_terminal(
        wrapper,
        [
            "sts",
            "get-caller-identity",
            "--profile",
            "touch",
            "--endpoint-url",
            emulator.sts_endpoint,
            "--ca-bundle",
            str(emulator.ca_bundle),
        ],
        env,
    )
    assert done.returncode == 0, done.stderr + tty
    assert json.loads(done.stdout)["Arn"]
    assert "waiting for the key" in tty and "touch it" in tty
    assert "waiting for the key" not in done.stderr  # it went to the terminal, not to the CLI's stderr


def _run_with_terminal(wrapper: Path, args: list[str], env: dict[str, str]):
    import fcntl
    import pty
    import select
    import termios

    master, slave = pty.openpty()

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [sys.executable, str(wrapper), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(env),
        pass_fds=(slave,),
        preexec_fn=own_terminal,
    )
    os.close(slave)
    transcript = ""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                transcript += os.read(master, 4096).decode("utf-8", "replace")
            except OSError:
                break
    stdout, stderr = proc.communicate(timeout=30)
    os.close(master)
    return subprocess.CompletedProcess(args, proc.returncode, stdout.decode(), stderr.decode()), transcript


def test_systemd_socket_activation(emulator, pki, tmp_path):
    directory = tmp_path / "run"
    directory.mkdir(mode=0o700)
    path = str(directory / "agent.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    # systemd passes the socket as fd 3 and names the receiving pid; exec keeps the pid.
    launcher = (
        "import os, sys; os.dup2(int(sys.argv[1]), 3); os.environ['LISTEN_FDS'] = '1';"
        " os.environ['LISTEN_PID'] = str(os.getpid());"
        " os.execv(sys.executable, [sys.executable, '-m', 'rasign', 'agent', '--systemd'])"
    )
    agent = subprocess.Popen(
        [sys.executable, "-c", launcher, str(listener.fileno())],
        pass_fds=(listener.fileno(),),
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    listener.close()
    try:
        cert, key = pki.software_identity(stem="agent-systemd")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "rasign",
                "credential-process",
                "--agent",
                "--certificate",
                str(cert),
                "--private-key",
                str(key),
                *emulator_args(emulator),
            ],
            env=clean_env({"RASIGN_AGENT_SOCK": path}),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["AccessKeyId"]
    finally:
        agent.terminate()
        agent.wait(15)


def test_systemd_flag_without_a_passed_socket_is_a_usage_error():
    done = subprocess.run(
        [sys.executable, "-m", "rasign", "agent", "--systemd"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "LISTEN_FDS" in done.stderr and done.stderr.count("\n") == 1
