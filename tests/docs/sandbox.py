"""Run one documentation page's examples the way a reader would, against local stand-ins.

Each page gets a sandbox: a temporary ``HOME`` that is also the working directory, holding
the files the docs name, and an environment that sends rasign, the AWS CLI and boto3 to
the local emulator through variables they already honour:

- ``me.pem`` / ``me.key``: a client certificate (P-256) and its key, issued by
  ``root-ca.pem``, the CA the emulator trusts;
- ``/etc/pki/`` in a block is this ``HOME`` (a block can say ``/etc/pki/me.pem`` the way a
  real config file would and still run anywhere);
- ``AWS_ENDPOINT_URL_ROLESANYWHERE`` (rasign), ``AWS_ENDPOINT_URL_STS`` (AWS CLI, boto3)
  and ``AWS_CA_BUNDLE`` (all of them) point at the emulator, which is configured with the
  account, region and ARNs of :data:`DOC_ARNS`;
- ``pip`` runs with ``PIP_NO_INDEX=1``: an install line then proves the extra is
  installed, without the network;
- with SoftHSM: ``SOFTHSM2_CONF`` selects the test tokens (``rasign-a``, PIN 1234;
  ``rasign-b``, PIN 5678); with swtpm: ``TPM2TOOLS_TCTI`` / ``TPM2OPENSSL_TCTI`` select
  the page's own software TPM, and ``ra/cert.pem`` + ``ra/key.tss2.pem`` are a TPM key
  made by tpm2-openssl with its certificate.

A block with ``title="PATH"`` on its fence is written to ``PATH`` under HOME instead of
being run (a module, a pyproject.toml, a test file that a later block uses).

Blocks of a page share the sandbox and run in order, so one block may use what an
earlier one made. Shell blocks run under ``bash -euo pipefail`` in their own process
group; whatever they leave running in the background (``rasign serve ... &``) is stopped
when the block ends.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.docs.blocks import REPO, Block

REGION = "eu-west-1"
ACCOUNT = "111122223333"
DOC_ARNS = {
    "trust_anchor": f"arn:aws:rolesanywhere:{REGION}:{ACCOUNT}:trust-anchor/TA",
    "profile": f"arn:aws:rolesanywhere:{REGION}:{ACCOUNT}:profile/P",
    "role": f"arn:aws:iam::{ACCOUNT}:role/R",
}
"""The ARNs every example uses; the docs emulator answers for exactly these."""

BLOCK_TIMEOUT = 180
# What makes a page need SoftHSM or a TPM: a token URI or the module; a TPM tool, key or TCTI.
_NEEDS_HSM = re.compile(r"libsofthsm2|pkcs11:token=")
_NEEDS_TPM = re.compile(r"\btpm2_\w+|-provider tpm2|TPM2(?:TOOLS|OPENSSL)_TCTI|\.tss2\.pem|handle:0x")


class ExampleFailed(AssertionError):
    """A documented example did not do what the page says."""


@dataclass
class Sandbox:
    """One page's HOME, environment and progress through its blocks."""

    root: Path
    env: dict[str, str]
    done: set[int] = field(default_factory=set)

    @property
    def home(self) -> Path:
        return self.root / "home"

    def localise(self, text: str) -> str:
        """Map the docs' ``/etc/pki/`` to this sandbox's HOME."""
        return text.replace("/etc/pki/", f"{self.home}/")

    def run(self, block: Block) -> str:
        """Run ``block``; return its output, or raise :class:`ExampleFailed` naming it."""
        runner = _write_file if block.title else _RUNNERS[block.info]
        return runner(self, block)


def new_sandbox(root: Path, emulator, pki, *, hsm=None, tpm=None) -> Sandbox:
    """Make the HOME with the documented files and the environment pointing at ``emulator``."""
    from cryptography.hazmat.primitives import serialization

    home = root / "home"
    (home / ".aws").mkdir(parents=True)
    key = _ec_key()
    (home / "me.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (home / "me.key").chmod(0o600)
    pki.issue(key.public_key(), home / "me.pem", cn="me")
    (home / "root-ca.pem").write_bytes(pki.root_pem)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RASIGN_", "SOFTHSM", "TPM2", "TCTI"))}
    # The agent page starts a real agent: its socket lives in the sandbox, not at the machine's
    # default path where any other rasign (another test run, the developer's) would find it.
    (root / "run").mkdir(mode=0o700)
    env["XDG_RUNTIME_DIR"] = str(root / "run")
    env.update(
        HOME=str(home),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        PYTHONPATH=str(REPO),
        AWS_ENDPOINT_URL_ROLESANYWHERE=emulator.endpoint,
        AWS_ENDPOINT_URL_STS=emulator.sts_endpoint,
        AWS_CA_BUNDLE=str(emulator.ca_bundle),
        RASIGN_CACHE_DIR=str(root / "cache"),
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    if hsm is not None:
        env.update(hsm.env)
    if tpm is not None:
        env.update(tpm.tool_env)
        _tpm_identity(tpm, pki, home / "ra")
    return Sandbox(root=root, env=env)


def needs(blocks: list[Block]) -> tuple[bool, bool]:
    """Whether a page's runnable blocks need SoftHSM, and whether they need a TPM."""
    text = "".join(block.text for block in blocks if block.runnable and not block.skip_reason)
    return bool(_NEEDS_HSM.search(text)), bool(_NEEDS_TPM.search(text))


def _ec_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _tpm_identity(tpm, pki, directory: Path) -> None:
    """A tpm2-openssl key file and its certificate, where tpm.md's first example looks."""
    from cryptography.hazmat.primitives import serialization

    from tests.tpm import keys

    directory.mkdir()
    key = keys.openssl_key(tpm, directory / "key.tss2.pem", "EC")
    public = keys.openssl_public_pem(tpm, key, directory / "key.pub.pem")
    pki.issue(serialization.load_pem_public_key(public.read_bytes()), directory / "cert.pem", cn="tpm host")


def _execute(sandbox: Sandbox, block: Block, argv: list[str]) -> str:
    """Run argv in the sandbox in its own process group, then stop whatever it left behind."""
    out_path, err_path = sandbox.root / "block.out", sandbox.root / "block.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        process = subprocess.Popen(
            argv,
            cwd=sandbox.home,
            env=sandbox.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=BLOCK_TIMEOUT)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            _stop_group(process.pid)
    output, errors = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
    if code != 0:
        status = f"timed out after {BLOCK_TIMEOUT} s" if code is None else f"exited {code}"
        raise ExampleFailed(
            f"{block.where} ({block.info}) {status}\n--- stdout\n{output[-3000:]}\n--- stderr\n{errors[-3000:]}"
        )
    return output


def _stop_group(pgid: int) -> None:
    """SIGTERM the block's process group (background servers), SIGKILL what outlives 5 s."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if _group_alive(pgid, grace=5.0):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _group_alive(pgid: int, grace: float) -> bool:
    """True while a process of group ``pgid`` still runs after ``grace`` seconds (zombies do not count)."""
    import time

    deadline = time.monotonic() + grace
    while _live_members(pgid):
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.05)
    return False


def _live_members(pgid: int) -> bool:
    """Whether group ``pgid`` has a member that is not a zombie; a reaper-less PID 1 leaves zombies."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _write_file(sandbox: Sandbox, block: Block) -> str:
    """A ``title="PATH"`` block: write it (under HOME) for later blocks; Python must compile."""
    assert block.title is not None
    target = sandbox.home / block.title
    if target.resolve() != target or sandbox.home not in target.parents:
        raise ExampleFailed(f"{block.where}: title={block.title!r} must be a relative path inside HOME")
    text = sandbox.localise(block.text)
    if block.info == "python":
        try:
            compile(text, block.title, "exec")
        except SyntaxError as err:
            raise ExampleFailed(f"{block.where}: {block.title} does not compile: {err}") from err
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return ""


def _run_shell(sandbox: Sandbox, block: Block) -> str:
    script = sandbox.root / "block.sh"
    script.write_text(sandbox.localise(block.text))
    return _execute(sandbox, block, ["bash", "-euo", "pipefail", str(script)])


def _console_commands(text: str) -> str:
    """The ``$ `` lines of a console transcript (with their backslash continuations)."""
    commands: list[str] = []
    continuing = False
    for line in text.splitlines():
        if continuing or line.startswith("$ "):
            commands.append(line if continuing else line[2:])
            continuing = line.endswith("\\")
    return "\n".join(commands) + "\n"


def _run_console(sandbox: Sandbox, block: Block) -> str:
    script = sandbox.root / "block.sh"
    script.write_text(sandbox.localise(_console_commands(block.text)))
    return _execute(sandbox, block, ["bash", "-euo", "pipefail", str(script)])


def _run_python(sandbox: Sandbox, block: Block) -> str:
    script = sandbox.root / "block.py"
    script.write_text(sandbox.localise(block.text))
    return _execute(sandbox, block, [sys.executable, str(script)])


def _run_ini(sandbox: Sandbox, block: Block) -> str:
    """Install the block as ~/.aws/config; every profile with credential_process must work."""
    text = sandbox.localise(block.text)
    config = configparser.ConfigParser(interpolation=None)
    config.read_string(text)
    (sandbox.home / ".aws" / "config").write_text(text)
    profiles = [
        section.removeprefix("profile ").strip()
        for section in config.sections()
        if config.has_option(section, "credential_process") and (section == "default" or section.startswith("profile "))
    ]
    if not profiles:
        raise ExampleFailed(f"{block.where}: an ini block is an AWS config with a credential_process profile")
    outputs = []
    for profile in profiles:
        command = ["aws", "sts", "get-caller-identity", "--profile", profile, "--output", "json"]
        output = _execute(sandbox, block, command)
        identity = json.loads(output)
        if f":assumed-role/{DOC_ARNS['role'].rsplit('/', 1)[1]}/" not in identity.get("Arn", ""):
            raise ExampleFailed(
                f"{block.where}: profile {profile} got {identity.get('Arn')!r}, not the documented role"
            )
        outputs.append(output)
    return "".join(outputs)


_RUNNERS: dict[str, Callable[[Sandbox, Block], str]] = {
    "bash": _run_shell,
    "sh": _run_shell,
    "console": _run_console,
    "python": _run_python,
    "ini": _run_ini,
}
