"""``rasign emulator``: run the local Roles Anywhere + STS emulator in the foreground.

For offline demos and for scripts that test rasign (or any other Roles Anywhere client)
without an AWS account. On start it prints ONE line of JSON on stdout (endpoint, STS
endpoint, CA bundle, ARNs) so a script can read it, optionally writes the same document
to ``<state-dir>/emulator.json``, then serves until SIGTERM or SIGINT. Every path in that
document is absolute: a script reading it usually runs from another directory.

Logs (one line per request: method, path, status, error code) go to stderr at INFO, a
refused CreateSession at WARNING, and the emulator's internals only with ``--debug``. They
never carry secrets: no headers, bodies or issued credentials are logged. docs/emulator.md
is the user guide.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    """Emulator flags."""
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: any free port)")
    parser.add_argument(
        "--region",
        help="region of the emulated endpoint and its ARNs (default: the region of --trust-anchor-arn or"
        " --profile-arn, else us-east-1)",
    )
    parser.add_argument(
        "--trust-anchor",
        action="append",
        default=[],
        metavar="CA_FILE",
        help="CA certificate(s) to trust, PEM or DER; repeatable (all go into the one trust anchor)",
    )
    parser.add_argument(
        "--demo-identity",
        action="store_true",
        help="also make a throw-away CA and client certificate/key, trust that CA and print their paths",
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help="directory (created if missing) for emulator.json, the TLS CA bundle and the --demo-identity files;"
        " without it they live in a temporary directory removed on exit",
    )
    parser.add_argument(
        "--profile-duration",
        type=int,
        default=3600,
        metavar="SECONDS",
        help="profile durationSeconds (900-43200, default 3600)",
    )
    parser.add_argument("--accept-role-session-name", action="store_true", help="let clients set roleSessionName")
    parser.add_argument(
        "--require-instance-properties", action="store_true", help="require instanceProperties in CreateSession"
    )
    parser.add_argument(
        "--role-name", default="rasign-test-role", metavar="NAME", help="name of the role the profile allows"
    )
    parser.add_argument(
        "--extra-role", action="append", default=[], metavar="NAME", help="another role the profile allows; repeatable"
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        metavar="N",
        help="throttle (HTTP 429 ThrottlingException) above N CreateSession calls per second, like the AWS quota (10)",
    )
    parser.add_argument(
        "--account-id",
        metavar="ID",
        help="12-digit account id used in ARNs (default: the account of --trust-anchor-arn or --profile-arn,"
        " else 123456789012)",
    )
    parser.add_argument(
        "--trust-anchor-arn",
        metavar="ARN",
        help="answer for this trust anchor ARN (e.g. the one in your AWS config) instead of a derived one",
    )
    parser.add_argument(
        "--profile-arn",
        metavar="ARN",
        help="answer for this profile ARN instead of a derived one",
    )
    parser.add_argument("--debug", action="store_true", help="also log the emulator's internals (DEBUG) on stderr")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="log line format on stderr")


def run(args: argparse.Namespace) -> int:
    """Check the inputs, make the demo identity if asked, serve until a signal, clean up."""
    from rasign.hardening import harden_process

    _check(args)
    state_dir = _prepare_state_dir(args.state_dir) if args.state_dir else None
    anchors = _read_anchors(args.trust_anchor)
    harden_process()  # it holds private keys (TLS, demo identity) for as long as it runs
    scratch: Path | None = None
    try:
        demo: dict[str, str] = {}
        if args.demo_identity:
            directory = state_dir
            if directory is None:
                directory = scratch = Path(tempfile.mkdtemp(prefix="rasign-emulator-demo-"))
            anchors, demo = _demo_identity(anchors, directory)
        return _serve(args, anchors, demo, state_dir)
    finally:
        if scratch is not None:  # it holds the demo identity's unencrypted private key
            shutil.rmtree(scratch, ignore_errors=True)


def _serve(args: argparse.Namespace, anchors: bytes, demo: dict[str, str], state_dir: Path | None) -> int:
    """Start, announce (stdout and emulator.json), serve until SIGTERM/SIGINT, stop."""
    from rasign.emulator import Emulator
    from rasign.emulator.server import access_log

    emulator = Emulator(
        [anchors],
        region=args.region,
        account_id=args.account_id,
        port=args.port,
        role_name=args.role_name,
        extra_roles=args.extra_role,
        profile_duration=args.profile_duration,
        accept_role_session_name=args.accept_role_session_name,
        require_instance_properties=args.require_instance_properties,
        state_dir=str(state_dir) if state_dir else None,
        rate_limit=args.rate_limit,
    )
    arns = _pin_arns(emulator, args, anchors)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    access_filter = _AccessLevels()
    # The emulator logs requests at DEBUG so an embedded one (``rasign demo``, tests) stays
    # quiet; here they are the command's normal output, so they are let through and re-levelled.
    previous_level = access_log.level
    access_log.setLevel(logging.DEBUG)
    access_log.addFilter(access_filter)
    try:
        _start(emulator, args.port)
        document: dict[str, Any] = {**emulator.describe(), **arns}
        if demo:
            document["demo_identity"] = demo
        state_file = None
        if state_dir is not None:
            state_file = state_dir / "emulator.json"
            document["state_file"] = str(state_file)
            _write_json(state_file, document)  # the same document as on stdout
        sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
        if state_file is not None:
            state_file.unlink(missing_ok=True)
    finally:
        emulator.stop()
        access_log.removeFilter(access_filter)
        access_log.setLevel(previous_level)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


class _AccessLevels(logging.Filter):
    """Show the access log at INFO (WARNING for a refused CreateSession) instead of DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.DEBUG:
            refused = isinstance(record.msg, str) and record.msg.startswith("CreateSession refused")
            record.levelno = logging.WARNING if refused else logging.INFO
            record.levelname = logging.getLevelName(record.levelno)
        return True


def _prepare_state_dir(name: str) -> Path:
    """Create ``--state-dir`` (absolute) or say in one line why it cannot be used."""
    from rasign.errors import ConfigError

    directory = Path(name).expanduser().absolute()
    if directory.exists() and not directory.is_dir():
        raise ConfigError(
            f"--state-dir {directory} is not a directory", hint="name a directory; it is created if missing"
        )
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"cannot create --state-dir {directory}: {err.strerror or err}",
            hint="name a directory you can write to",
        ) from err
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"--state-dir {directory} is not writable", hint="name a directory you can write to")
    info = directory.stat()
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        # It will hold private keys (TLS, the demo identity): nobody else may plant or swap files there.
        raise ConfigError(
            f"--state-dir {directory} can be changed by another user (owner uid {info.st_uid}, "
            f"mode {stat.S_IMODE(info.st_mode):o})",
            hint="name a directory of your own that only you can write, e.g. a new one",
        )
    return directory


def _check(args: argparse.Namespace) -> None:
    from rasign.emulator.state import MAX_DURATION, MIN_DURATION
    from rasign.errors import UsageError

    if not args.trust_anchor and not args.demo_identity:
        raise UsageError("the emulator needs a CA to trust: pass --trust-anchor CA.pem (repeatable) or --demo-identity")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a TCP port (0-65535; 0 picks a free one)")
    if not MIN_DURATION <= args.profile_duration <= MAX_DURATION:
        raise UsageError(
            f"--profile-duration must be between {MIN_DURATION} and {MAX_DURATION} seconds, not {args.profile_duration}"
        )
    if args.rate_limit is not None and args.rate_limit <= 0:
        raise UsageError(f"--rate-limit must be a positive number of calls per second, not {args.rate_limit}")
    _resolve_account_and_region(args)
    if not (args.account_id.isdigit() and len(args.account_id) == 12):
        raise UsageError(f"--account-id must be 12 digits, not {args.account_id!r}")


def _resolve_account_and_region(args: argparse.Namespace) -> None:
    """Default --region/--account-id from the pinned ARNs; refuse ARNs that disagree with them."""
    from rasign.arns import parse_arn
    from rasign.errors import UsageError

    pinned = [
        (flag, parse_arn(value, what), service, prefix)
        for flag, value, what, service, prefix in (
            ("--trust-anchor-arn", args.trust_anchor_arn, "trust anchor", "rolesanywhere", "trust-anchor/"),
            ("--profile-arn", args.profile_arn, "profile", "rolesanywhere", "profile/"),
        )
        if value
    ]
    for flag, arn, service, prefix in pinned:
        if arn.service != service or not arn.resource.startswith(prefix) or len(arn.resource) == len(prefix):
            raise UsageError(
                f"{flag} {arn} is not a Roles Anywhere {prefix[:-1]} ARN",
                hint=f"expected arn:aws:{service}:REGION:ACCOUNT:{prefix}ID",
            )
        for attribute, option in (("region", "--region"), ("account", "--account-id")):
            value = getattr(arn, attribute)
            chosen = getattr(args, "account_id" if attribute == "account" else "region")
            if chosen is None:
                setattr(args, "account_id" if attribute == "account" else "region", value)
            elif chosen != value:
                raise UsageError(
                    f"{flag} {arn} is in {attribute} {value}, but {option} is {chosen}",
                    hint=f"drop {option} or make them agree",
                )
    args.region = args.region or "us-east-1"
    args.account_id = args.account_id or "123456789012"


def _pin_arns(emulator: Any, args: argparse.Namespace, anchors: bytes) -> dict[str, str]:
    """Register the --trust-anchor-arn / --profile-arn the user named; return them for the JSON.

    The derived trust anchor and profile stay too: both trust the same CAs and roles.
    """
    pinned: dict[str, str] = {}
    if args.trust_anchor_arn:
        pinned["trust_anchor_arn"] = emulator.add_trust_anchor(anchors, "pinned", arn=args.trust_anchor_arn)
    if args.profile_arn:
        pinned["profile_arn"] = emulator.add_profile(
            "pinned",
            [emulator.role_arn, *emulator.extra_role_arns],
            arn=args.profile_arn,
            duration_seconds=args.profile_duration,
            accept_role_session_name=args.accept_role_session_name,
            require_instance_properties=args.require_instance_properties,
        )
    return pinned


def _read_anchors(paths: list[str]) -> bytes:
    """All --trust-anchor files (PEM or DER) as one PEM bundle."""
    from cryptography.hazmat.primitives import serialization

    from rasign.certs import load_certificates

    return b"".join(
        cert.public_bytes(serialization.Encoding.PEM)
        for path in paths
        for cert in load_certificates(path, "trust anchor")
    )


def _demo_identity(anchors: bytes, directory: Path) -> tuple[bytes, dict[str, str]]:
    from rasign.commands.demo import make_pki

    cert_path, key_path, root_pem = make_pki(directory)
    return anchors + root_pem, {
        "certificate": str(Path(cert_path).absolute()),
        "private_key": str(Path(key_path).absolute()),
        "root_ca": str((directory / "root-ca.pem").absolute()),
    }


def _start(emulator: Any, port: int) -> None:
    from rasign.errors import ConfigError

    try:
        emulator.start()
    except OSError as err:
        raise ConfigError(
            f"cannot listen on 127.0.0.1:{port}: {err.strerror or err}",
            hint="pick another --port, or 0 for any free port",
        ) from err


def _write_json(path: Path, document: dict[str, Any]) -> None:
    from rasign import fsafe

    text = json.dumps(document, indent=2) + "\n"
    fsafe.write_atomic(
        str(path), text, "emulator state file", mode=0o644, keep_mode=False, secret=False, follow_final=False
    )
