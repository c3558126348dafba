"""``rasign serve``: hand credentials to SDKs over IMDSv2, ECS or a unix socket.

Start-up order keeps failures cheap and loud: flags and listen addresses are checked and
the sockets bound first (a busy port never costs a PIN), then the key is opened and the
first CreateSession runs. If that fails, serve exits non-zero instead of listening with
empty credentials (the Go helper's behaviour before PR #200). After that a background
thread refreshes ahead of expiry; requests are answered from memory and never wait on the
network. SIGTERM/SIGINT stop cleanly, SIGHUP forces a refresh.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import threading

from rasign.cli import flags
from rasign.errors import StoreError, UsageError
from rasign.logs import get_logger

SUMMARY = "serve credentials over an IMDSv2- or ECS-compatible endpoint"

log = get_logger("serve")


def configure(parser: argparse.ArgumentParser) -> None:
    """Go helper flags (``--port``, ``--hop-limit``) plus listeners, ECS mode and refresh tuning."""
    flags.add_signer_flags(parser)
    flags.add_session_flags(parser)
    group = parser.add_argument_group("endpoint")
    group.add_argument("--port", type=int, default=9911, metavar="PORT",
                       help="port on 127.0.0.1 and ::1 (default 9911; 0 picks a free one)")
    group.add_argument("--listen", action="append", default=[], metavar="ADDR:PORT",
                       help="listen here instead (repeatable), e.g. 127.0.0.1:9911 or [::1]:9911")
    group.add_argument("--unix-socket", metavar="PATH", help="also serve on this unix socket (mode 0600)")
    group.add_argument("--hop-limit", type=int, default=64, metavar="N",
                       help="IP TTL / IPv6 hop limit of responses, 1..255 (default 64; 1 = EC2 parity)")
    group.add_argument("--allow-non-loopback", action="store_true",
                       help="permit --listen on a non-loopback address; every request must then carry the auth token")
    group.add_argument("--ecs", action="store_true",
                       help="also serve ECS container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI)")
    group.add_argument("--ecs-path", default="/v1/credentials", metavar="PATH",
                       help="path of the ECS endpoint (default /v1/credentials)")
    group.add_argument("--auth-token-file", metavar="PATH",
                       help="file holding the Authorization token for ECS and non-loopback clients"
                            " (created with a random token if missing)")
    group.add_argument("--ready-file", metavar="PATH",
                       help="write the listening addresses as JSON here once serving (for scripts)")
    flags.add_refresh_flags(parser)
    flags.add_debug_flag(parser)


def role_name_of(role_arn: str) -> str:
    """The IMDS role name: the last path element of the role ARN's resource."""
    parts = role_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[5].startswith("role/"):
        raise UsageError(f"invalid role ARN {role_arn!r}", hint="pass --role-arn arn:aws:iam::ACCOUNT:role/NAME")
    name = parts[5].rsplit("/", 1)[-1]
    if not name:
        raise UsageError(f"invalid role ARN {role_arn!r}: empty role name")
    return name


def _policy(args: argparse.Namespace):
    from rasign.refresh import RefreshPolicy

    if args.refresh_ahead is not None and args.refresh_ahead < 0:
        raise UsageError("--refresh-ahead must not be negative")
    if args.min_refresh_interval < 0 or args.max_backoff <= 0:
        raise UsageError("--min-refresh-interval must be >= 0 and --max-backoff > 0")
    return RefreshPolicy(
        refresh_ahead=args.refresh_ahead,
        min_interval=args.min_refresh_interval,
        backoff_max=max(args.max_backoff, args.min_refresh_interval),
    )


MIN_TOKEN_LENGTH = 32
"""Shortest auth token accepted from a file: about 190 bits as urlsafe base64."""


def _check_token(token: str, path: str, info: os.stat_result) -> None:
    """Refuse a token file others can read or change, that someone else owns, or a weak token."""
    if info.st_mode & 0o066:
        raise StoreError(
            f"the auth token file {path} is readable or writable by group or others"
            f" (mode {info.st_mode & 0o7777:04o})",
            hint=f"run: chmod 600 {path}",
        )
    euid = os.geteuid() if hasattr(os, "geteuid") else None
    if euid is not None and info.st_uid not in (euid, 0):
        raise StoreError(f"the auth token file {path} belongs to uid {info.st_uid}, not to this user",
                         hint="use a token file you own")
    if not token:
        raise StoreError(f"the auth token file {path} is empty", hint="put a long random token in it or delete it")
    if len(token) < MIN_TOKEN_LENGTH:
        raise StoreError(f"the auth token in {path} has {len(token)} characters; at least {MIN_TOKEN_LENGTH}"
                         " are required", hint="delete the file to have a random one created, or write a longer one")
    if not all("!" <= ch <= "~" for ch in token):
        raise StoreError(f"the auth token in {path} must be printable ASCII without spaces",
                         hint="delete the file to have a random one created")


def _read_token(path: str) -> str | None:
    from rasign import fsafe

    found = fsafe.read_checked(path, "auth token file", limit=64 * 1024)
    if found is None:
        return None
    data, info = found
    try:
        token = data.decode("utf-8").strip()
    except UnicodeDecodeError as err:
        raise StoreError(f"the auth token file {path} is not UTF-8 text", hint="delete it to have one created") from err
    _check_token(token, path, info)
    return token


def load_or_create_token(path: str | None) -> tuple[str, str]:
    """Read the auth token from ``path`` (creating a random one, 0600, if missing).

    Without a path the token goes to a new file in the private per-user directory. The
    token itself is never printed or logged; clients read the file
    (``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``). An existing file is checked: mode 0600
    (or stricter), owned by this user or root, at least :data:`MIN_TOKEN_LENGTH` characters.
    """
    from rasign import fsafe

    if path is None:
        from rasign.cache import private_dir

        path = os.path.join(private_dir(), f"serve-{os.getpid()}.token")
    path = os.path.abspath(path)
    token = _read_token(path)
    if token is not None:
        return token, path
    token = secrets.token_urlsafe(32)
    if not fsafe.create_exclusive(path, token, "auth token file", mode=0o600):
        existing = _read_token(path)  # another process created it first: use theirs
        if existing is None:
            raise StoreError(f"cannot create the auth token file {path}", hint="check its directory")
        return existing, path
    return token, path


def _write_ready_file(path: str, payload: dict) -> None:
    from rasign import fsafe

    fsafe.write_atomic(path, json.dumps(payload, indent=2) + "\n", "ready file", mode=0o644, secret=False)


def _preflight_files(args: argparse.Namespace) -> None:
    """Check every file serve will write or read before the first CreateSession (no PIN, no request)."""
    from rasign import fsafe

    if args.ready_file:
        fsafe.check_target(args.ready_file, "ready file")
    if args.auth_token_file and _read_token(os.path.abspath(args.auth_token_file)) is None:
        fsafe.check_target(args.auth_token_file, "auth token file")  # to be created: its directory must be writable
    if args.unix_socket:
        fsafe.check_directory(os.path.dirname(os.path.abspath(args.unix_socket)), "unix socket directory")


def run(args: argparse.Namespace) -> int:
    """Bind, mint the first credentials (fail fast), serve until SIGTERM."""
    flags.check_exclusions(args, flags.CREDENTIAL_EXCLUSIONS)
    _preflight_files(args)  # ready file, token file, socket directory: before any PIN or request
    from rasign.refresh import Refresher, SessionMinter
    from rasign.serve.handler import ServeContext, make_handler
    from rasign.serve.listeners import (
        UnixCredentialServer,
        default_specs,
        open_tcp,
        parse_listen,
    )
    from rasign.serve.notify import sd_notify
    from rasign.serve.tokens import TokenStore
    from rasign.serve.view import CredentialView

    signer_options = flags.signer_options(args)
    session_options = flags.session_options(args)
    role_name = role_name_of(session_options.role_arn)
    policy = _policy(args)
    if not 1 <= args.hop_limit <= 255:
        raise UsageError(f"--hop-limit must be 1..255, got {args.hop_limit}")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0..65535, got {args.port}")
    if not args.ecs_path.startswith("/"):
        raise UsageError("--ecs-path must start with /")

    specs = [parse_listen(item) for item in args.listen] or default_specs(args.port)
    exposed = [spec for spec in specs if not spec.is_loopback()]
    if exposed and not args.allow_non_loopback:
        raise UsageError(
            f"refusing to listen on non-loopback address {exposed[0].display()}",
            hint="anyone who can reach it could take the credentials; add --allow-non-loopback (an auth token is then required)",
        )

    auth_token = token_file = None
    if args.ecs or exposed or args.auth_token_file:
        auth_token, token_file = load_or_create_token(args.auth_token_file)

    view = CredentialView(role_arn=session_options.role_arn, expiry_skew=policy.expiry_skew)
    minter = SessionMinter(signer_options, session_options, backend=getattr(args, "backend", None))
    refresher = Refresher(minter.mint, policy, on_update=view.update, name="rasign-serve-refresh")
    context = ServeContext(
        role_name=role_name,
        view=view,
        tokens=TokenStore(),
        status=lambda: refresher.status().to_dict(),
        auth_token=auth_token,
        ecs_path=args.ecs_path if (args.ecs or auth_token) else None,
        allow_non_loopback=args.allow_non_loopback,
    )
    handler = make_handler(context)

    servers: list = []
    threads: list[threading.Thread] = []
    try:
        servers.extend(open_tcp(specs, handler, args.hop_limit))
        if args.unix_socket:
            servers.append(UnixCredentialServer(os.path.abspath(args.unix_socket), handler))
        if exposed:
            log.warning("listening on non-loopback addresses %s; requests from other hosts need the auth token",
                        ", ".join(spec.display() for spec in exposed))

        minter.open()
        refresher.start(fail_fast=True)

        stop = threading.Event()
        _install_signal_handlers(stop, refresher)
        for server in servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                                      name="rasign-serve-listener", daemon=True)
            thread.start()
            threads.append(thread)
        _announce(servers, context, token_file, args)
        sd_notify("READY=1\nSTATUS=serving credentials")
        while not stop.wait(1.0):
            pass
        log.info("shutting down")
        sd_notify("STOPPING=1")
    finally:
        if threads:
            # serve_forever notices a shutdown only at its next poll; stop all listeners at once.
            stoppers = [threading.Thread(target=server.shutdown) for server in servers]
            for stopper in stoppers:
                stopper.start()
            for stopper in stoppers:
                stopper.join(5)
        for server in servers:
            server.server_close()
        refresher.stop()
        minter.close()
        if token_file and not args.auth_token_file:
            try:
                os.unlink(token_file)
            except OSError:
                pass
    return 0


def _install_signal_handlers(stop: threading.Event, refresher) -> None:
    def _stop(signum, frame):
        stop.set()

    def _refresh(signum, frame):
        log.info("SIGHUP: refreshing credentials")
        refresher.refresh_soon()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, _refresh)


def _announce(servers: list, context, token_file: str | None, args: argparse.Namespace) -> None:
    from rasign.serve.listeners import TcpCredentialServer

    tcp = [server for server in servers if isinstance(server, TcpCredentialServer)]
    listening = [server.spec.display(server.port) for server in tcp]
    unix = [server.path for server in servers if not isinstance(server, TcpCredentialServer)]
    if tcp:
        log.info("Local server started on port: %d", tcp[0].port)
    log.info("listening on %s", ", ".join(listening + [f"unix:{path}" for path in unix]))
    base = None
    if tcp:
        first = tcp[0]
        host = first.spec.host
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        base = f"http://[{host}]:{first.port}" if ":" in host else f"http://{host}:{first.port}"
        log.info("Make it available to the sdk by running:")
        log.info("export AWS_EC2_METADATA_SERVICE_ENDPOINT=%s/", base)
    ecs_uri = None
    if base and context.ecs_path:
        ecs_uri = base + context.ecs_path
        log.info("for ECS-style clients: export AWS_CONTAINER_CREDENTIALS_FULL_URI=%s"
                 " AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=%s", ecs_uri, token_file)
    if args.ready_file:
        _write_ready_file(args.ready_file, {
            "pid": os.getpid(),
            "port": tcp[0].port if tcp else None,
            "listen": listening,
            "unix_socket": unix[0] if unix else None,
            "imds_endpoint": f"{base}/" if base else None,
            "ecs_uri": ecs_uri,
            "auth_token_file": token_file,
            "role_name": context.role_name,
        })
