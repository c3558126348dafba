"""``rasign demo``: the whole flow on this machine, no AWS account needed.

1. make a throw-away CA and a client certificate (P-256 key in a 0600 file);
2. start the local Roles Anywhere + STS emulator trusting that CA;
3. run ``rasign credential-process`` as the AWS SDKs would (a child process);
4. call STS GetCallerIdentity on the emulator with the issued credentials; the emulator
   checks that SigV4 signature for real. With boto3 installed (``rasign[boto3]``), boto3
   does it through a temporary AWS config whose profile uses that ``credential_process``;
   on a core-only install, rasign's own SigV4 client (:mod:`rasign.caller_identity`) does.

It needs only the core install (cryptography): no root, no system package, no
network beyond loopback. The temporary directory holds an unencrypted private key, so it
is removed on success, failure and Ctrl-C (or SIGTERM); ``--keep`` keeps it and says where.
Each step prints what happened on stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from rasign.errors import UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    """Demo options."""
    parser.add_argument(
        "--keep",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="keep the generated files (the private key too): in DIR if given, else in the temporary directory",
    )
    parser.add_argument("--debug", action="store_true", help="verbose logs on stderr")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help=argparse.SUPPRESS)


def _say(step: str, text: str) -> None:
    print(f"[{step}] {text}", flush=True)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write through :mod:`rasign.fsafe`: the emulator's ``--state-dir`` may be a shared place,
    and a link planted there must be replaced, never written through."""
    from rasign import fsafe

    fsafe.write_atomic(
        str(path), data, "demo file", mode=mode, keep_mode=False, secret=mode == 0o600, follow_final=False
    )


def make_pki(directory: Path) -> tuple[Path, Path, bytes]:
    """A root CA and a client certificate/key; returns (cert path, key path, root PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rasign demo"),
            x509.NameAttribute(NameOID.COMMON_NAME, "rasign demo root CA"),
        ]
    )
    usage = dict(
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rasign demo"),
            x509.NameAttribute(NameOID.COMMON_NAME, "demo-workstation"),
        ]
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7, hours=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **usage), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "client-cert.pem", directory / "client-key.pem"
    _write(cert_path, leaf.public_bytes(serialization.Encoding.PEM), 0o644)
    pkcs8 = serialization.PrivateFormat.PKCS8
    _write(key_path, key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()), 0o600)
    root_pem = ca.public_bytes(serialization.Encoding.PEM)
    _write(directory / "root-ca.pem", root_pem, 0o644)
    return cert_path, key_path, root_pem


@contextmanager
def _workdir(keep: str | None) -> Iterator[Path]:
    """The demo's directory: removed on every way out unless ``--keep`` was given.

    SIGTERM is turned into KeyboardInterrupt for the duration, so ``kill`` cleans up too.
    """
    if keep:
        workdir = _kept_directory(keep)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="rasign-demo-"))
    try:
        previous = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread (demo run from Python code): no handler to swap
        previous = None
    try:
        yield workdir
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
            _say("cleanup", f"removed {workdir} and the private key in it (--keep keeps them)")
        else:
            _say("cleanup", f"kept the demo files in {workdir} (client-key.pem is an unencrypted private key)")


def _kept_directory(keep: str) -> Path:
    """``--keep DIR``: a new directory, or an empty one of ours; never someone's files overwritten.

    The demo writes an unencrypted private key and an AWS config whose ``credential_process``
    line names the files, so the path must not hold control characters (a newline would end
    that line), and an existing directory must be empty: the demo never replaces a file.
    """
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in keep):
        raise UsageError("--keep: the directory name holds a control character", hint="choose a plain path")
    path = Path(keep).expanduser()
    try:
        if path.is_symlink():
            raise UsageError(f"--keep: {keep} is a symbolic link", hint="give the real directory, or a new path")
        if path.exists():
            if not path.is_dir():
                raise UsageError(f"--keep: {keep} exists and is not a directory", hint="give a new or empty directory")
            if any(path.iterdir()):
                raise UsageError(f"--keep: {keep} is not empty", hint="give a new or empty directory")
            if path.stat().st_uid != os.getuid():
                raise UsageError(f"--keep: {keep} belongs to another user", hint="give a directory of your own")
        else:
            path.mkdir(mode=0o700)
    except OSError as err:
        raise UsageError(
            f"--keep: cannot use {keep[:200]}: {err.strerror or err}", hint="give a new path in an existing directory"
        ) from err
    return path.resolve()


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """Run the four steps and report each; the temporary files never outlive the command."""
    with _workdir(args.keep) as workdir:
        return _steps(workdir)


def _steps(workdir: Path) -> int:
    from rasign.emulator import Emulator

    cert_path, key_path, root_pem = make_pki(workdir)
    _say("1/4", f"made a throw-away CA and a P-256 client certificate in {workdir}")

    with Emulator(trust_anchor_pems=[root_pem], region="us-east-1") as emu:
        _say("2/4", f"local Roles Anywhere emulator listening on {emu.endpoint} (trust anchor {emu.trust_anchor_arn})")
        command = [
            sys.executable,
            "-m",
            "rasign",
            "credential-process",
            "--certificate",
            str(cert_path),
            "--private-key",
            str(key_path),
            "--trust-anchor-arn",
            emu.trust_anchor_arn,
            "--profile-arn",
            emu.profile_arn,
            "--role-arn",
            emu.role_arn,
            "--endpoint",
            emu.endpoint,
            "--ca-bundle",
            str(emu.ca_bundle),
            "--no-cache",
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            sys.stderr.write(result.stderr)
            _say("3/4", f"credential-process failed with exit code {result.returncode}")
            return result.returncode
        document = json.loads(result.stdout)
        _say(
            "3/4",
            f"credential-process printed credentials: AccessKeyId {document['AccessKeyId']},"
            f" expires {document['Expiration']}",
        )

        if _has_boto3():
            arn = _identity_with_boto3(workdir, command, emu.sts_endpoint, str(emu.ca_bundle))
            _say("4/4", f"boto3 (profile with credential_process) called STS GetCallerIdentity: {arn}")
        else:
            from rasign.caller_identity import get_caller_identity

            identity = get_caller_identity(
                document, endpoint=emu.sts_endpoint, region="us-east-1", verify=str(emu.ca_bundle)
            )
            _say(
                "4/4",
                f"rasign's SigV4 client called STS GetCallerIdentity with those credentials: {identity.arn}"
                " (boto3 is not installed; with pip install 'rasign[boto3]' boto3 does this step)",
            )
    print(
        "demo finished: the emulator verified the SigV4-X509 signature,"
        " and the SigV4 signature made with the issued credentials"
    )
    return 0


def _has_boto3() -> bool:
    import importlib.util

    return importlib.util.find_spec("boto3") is not None


def _identity_with_boto3(workdir: Path, command: list[str], sts_endpoint: str, ca_bundle: str) -> str:
    """boto3 reads a profile whose ``credential_process`` is rasign, as a real SDK user would."""
    import boto3

    config = workdir / "aws-config"
    config.write_text("[profile rasign-demo]\ncredential_process = " + shlex.join(command) + "\nregion = us-east-1\n")
    saved = {name: os.environ.get(name) for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")}
    os.environ["AWS_CONFIG_FILE"] = str(config)
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(workdir / "no-credentials")
    try:
        session = boto3.Session(profile_name="rasign-demo")
        sts = session.client("sts", endpoint_url=sts_endpoint, verify=ca_bundle)
        return str(sts.get_caller_identity()["Arn"])
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
