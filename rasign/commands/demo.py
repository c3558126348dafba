"""``rasign demo``: the whole flow on this machine, no AWS account needed.

1. make a throw-away CA and a client certificate (P-256 key in a 0600 file);
2. start the local Roles Anywhere + STS emulator trusting that CA;
3. run ``rasign credential-process`` as the AWS SDKs would (a child process);
4. point boto3 at a temporary ``~/.aws/config`` whose profile uses that
   ``credential_process``, and call STS GetCallerIdentity on the emulator, which checks
   the SDK's SigV4 signature with the issued credentials.

Each step prints what happened on stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

SUMMARY = "run the end-to-end flow against the local emulator (no AWS account needed)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Demo options."""
    parser.add_argument("--keep", metavar="DIR", help="keep the generated files in DIR instead of a temporary directory")
    parser.add_argument("--debug", action="store_true", help="verbose logs on stderr")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help=argparse.SUPPRESS)


def _say(step: str, text: str) -> None:
    print(f"[{step}] {text}", flush=True)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def make_pki(directory: Path) -> tuple[Path, Path, bytes]:
    """A root CA and a client certificate/key; returns (cert path, key path, root PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rasign demo"), x509.NameAttribute(NameOID.COMMON_NAME, "rasign demo root CA")])
    usage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False)
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rasign demo"), x509.NameAttribute(NameOID.COMMON_NAME, "demo-workstation")])
    leaf = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7, hours=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **usage), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "client-cert.pem", directory / "client-key.pem"
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    _write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    root_pem = ca.public_bytes(serialization.Encoding.PEM)
    (directory / "root-ca.pem").write_bytes(root_pem)
    return cert_path, key_path, root_pem


def run(args: argparse.Namespace) -> int:
    """Run the four steps and report each."""
    from rasign.emulator import Emulator

    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="rasign-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path, root_pem = make_pki(workdir)
    _say("1/4", f"made a throw-away CA and a P-256 client certificate in {workdir}")

    with Emulator(trust_anchor_pems=[root_pem], region="us-east-1") as emu:
        _say("2/4", f"local Roles Anywhere emulator listening on {emu.endpoint} (trust anchor {emu.trust_anchor_arn})")
        command = [
            sys.executable, "-m", "rasign", "credential-process",
            "--certificate", str(cert_path), "--private-key", str(key_path),
            "--trust-anchor-arn", emu.trust_anchor_arn, "--profile-arn", emu.profile_arn,
            "--role-arn", emu.role_arn, "--endpoint", emu.endpoint, "--ca-bundle", str(emu.ca_bundle),
            "--no-cache",
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            sys.stderr.write(result.stderr)
            _say("3/4", f"credential-process failed with exit code {result.returncode}")
            return result.returncode
        document = json.loads(result.stdout)
        _say("3/4", f"credential-process printed credentials: AccessKeyId {document['AccessKeyId']}, expires {document['Expiration']}")

        config = workdir / "aws-config"
        config.write_text("[profile rasign-demo]\ncredential_process = " + shlex.join(command) + "\nregion = us-east-1\n")
        os.environ["AWS_CONFIG_FILE"] = str(config)
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(workdir / "no-credentials")
        import boto3

        session = boto3.Session(profile_name="rasign-demo")
        sts = session.client("sts", endpoint_url=emu.sts_endpoint, verify=str(emu.ca_bundle))
        identity = sts.get_caller_identity()
        _say("4/4", f"boto3 (profile with credential_process) called STS GetCallerIdentity: {identity['Arn']}")
    print("demo finished: the emulator verified the SigV4-X509 signature and the SDK's SigV4 signature made with the issued credentials")
    return 0
