"""``rasign serve``: hand credentials to SDKs over IMDSv2, ECS or a unix socket.

Start-up order keeps failures cheap and loud: flags, ARNs and listen addresses are checked
and the sockets bound first (a busy port or a missing socket directory never costs a PIN),
then the key is opened and the first CreateSession runs. If that fails, serve exits non-zero instead of listening with
empty credentials (the Go helper's behaviour before PR #200). After that a background
thread refreshes ahead of expiry; requests are answered from memory and never wait on the
network. SIGTERM/SIGINT stop cleanly, SIGHUP forces a refresh.

All listeners share one event loop thread (:mod:`rasign.serve.loop`): a flood of idle
connections costs file descriptors up to ``--max-connections``, never threads.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rasign.cli import flags
from rasign.errors import StoreError, UsageError
from rasign.logs import get_logger

if TYPE_CHECKING:
    from rasign.clock import Clock
    from rasign.lifecycle import Lifecycle
    from rasign.options import SessionOptions, SignerOptions
    from rasign.refresh import Refresher, RefreshSettings
    from rasign.serve.handler import RoleSlot, ServeContext
    from rasign.serve.listeners import Listener, ListenSpec
    from rasign.serve.loop import EventLoopServer


log = get_logger("serve")


def configure(parser: argparse.ArgumentParser) -> None:
    """Go helper flags (``--port``, ``--hop-limit``) plus listeners, ECS mode and refresh tuning."""
    flags.add_signer_flags(parser)
    flags.add_session_flags(parser)
    group = parser.add_argument_group("endpoint")
    group.add_argument(
        "--port",
        type=int,
        default=9911,
        metavar="PORT",
        help="port on 127.0.0.1 and ::1 (default 9911; 0 picks a free one)",
    )
    group.add_argument(
        "--listen",
        action="append",
        default=[],
        metavar="ADDR:PORT",
        help="listen here instead (repeatable), e.g. 127.0.0.1:9911, [::1]:9911, or unix:PATH"
        " (only unix: entries = no TCP port at all)",
    )
    group.add_argument(
        "--unix-socket",
        metavar="PATH",
        help="also serve on this unix socket (mode 0600; peers checked with SO_PEERCRED)",
    )
    group.add_argument(
        "--unix-socket-allow-uid",
        action="append",
        type=int,
        default=[],
        metavar="UID",
        help="also accept unix-socket peers of this uid (repeatable; default: only this user and"
        " root; the socket file is then mode 0666)",
    )
    group.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME[:PORT]",
        help="also accept this Host header (repeatable), e.g. a container's name for this host;"
        " by default only loopback names and the listen address are accepted",
    )
    group.add_argument(
        "--max-connections",
        type=int,
        default=4096,
        metavar="N",
        help="open connections at most (default 4096); the quietest is closed to admit a new one",
    )
    group.add_argument(
        "--idle-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="close a keep-alive connection after this long without a request (default 60)",
    )
    group.add_argument(
        "--hop-limit",
        type=int,
        default=64,
        metavar="N",
        help="IP TTL / IPv6 hop limit of responses, 1..255 (default 64; 1 = EC2 parity)",
    )
    group.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="permit --listen on a non-loopback address; every request must then carry the auth token",
    )
    group.add_argument(
        "--ecs",
        action="store_true",
        help="serve ECS container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI) instead of IMDS;"
        " every request needs the auth token",
    )
    group.add_argument(
        "--imds", action="store_true", help="with --ecs: serve the IMDSv2 paths too (they need no auth token)"
    )
    group.add_argument(
        "--ecs-path",
        default="/v1/credentials",
        metavar="PATH",
        help="path of the ECS endpoint (default /v1/credentials)",
    )
    group.add_argument(
        "--auth-token-file",
        metavar="PATH",
        help="file holding the Authorization token for ECS and non-loopback clients"
        " (created with a random token if missing)",
    )
    group.add_argument(
        "--also-role",
        action="append",
        default=[],
        metavar="ROLE_ARN",
        help="serve this role too, minted with the same key (one PIN, one token session); repeatable."
        " IMDS lists --role-arn as the default and answers each role by name; ECS serves each"
        " at ECS_PATH/ROLE_NAME",
    )
    group.add_argument(
        "--ready-file", metavar="PATH", help="write the listening addresses as JSON here once serving (for scripts)"
    )
    flags.add_refresh_flags(parser)
    flags.add_debug_flag(parser)


def role_name_of(role_arn: str) -> str:
    """The IMDS role name, from :func:`rasign.arns.role_name` (the one ARN parser): a bad ARN
    fails exactly as in ``credential-process`` (ConfigError, exit 3), before any socket is bound."""
    from rasign.arns import role_name

    return role_name(role_arn)


MIN_TOKEN_LENGTH = 32
"""Shortest auth token accepted from a file: about 190 bits as urlsafe base64."""


def _check_token(token: str, path: str, info: os.stat_result) -> None:
    """Refuse a token file others can read or change, that someone else owns, or a weak token."""
    if info.st_mode & 0o066:
        raise StoreError(
            f"the auth token file {path} is readable or writable by group or others (mode {info.st_mode & 0o7777:04o})",
            hint=f"run: chmod 600 {path}",
        )
    euid = os.geteuid() if hasattr(os, "geteuid") else None
    if euid is not None and info.st_uid not in (euid, 0):
        raise StoreError(
            f"the auth token file {path} belongs to uid {info.st_uid}, not to this user",
            hint="use a token file you own",
        )
    if not token:
        raise StoreError(f"the auth token file {path} is empty", hint="put a long random token in it or delete it")
    if len(token) < MIN_TOKEN_LENGTH:
        raise StoreError(
            f"the auth token in {path} has {len(token)} characters; at least {MIN_TOKEN_LENGTH} are required",
            hint="delete the file to have a random one created, or write a longer one",
        )
    if not all("!" <= ch <= "~" for ch in token):
        raise StoreError(
            f"the auth token in {path} must be printable ASCII without spaces",
            hint="delete the file to have a random one created",
        )


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


_HOST_NAME = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?")


@dataclass(frozen=True)
class EndpointPlan:
    """The checked endpoint flags: what to listen on and which APIs to serve."""

    tcp: list[ListenSpec]
    unix: list[ListenSpec]
    exposed: list[ListenSpec]
    imds: bool
    ecs: bool
    allowed_uids: tuple[int, ...]
    allowed_hosts: tuple[str, ...]


def _check_endpoint_values(args: argparse.Namespace) -> None:
    """Range and syntax checks of the scalar endpoint flags (one-line usage errors)."""
    if not 1 <= args.hop_limit <= 255:
        raise UsageError(f"--hop-limit must be 1..255, got {args.hop_limit}")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0..65535, got {args.port}")
    if not args.ecs_path.startswith("/") or not args.ecs_path.isascii() or any(c <= " " for c in args.ecs_path):
        raise UsageError("--ecs-path must be a path starting with / (no spaces or control characters)")
    if args.max_connections < 1:
        raise UsageError(f"--max-connections must be at least 1, got {args.max_connections}")
    if not math.isfinite(args.idle_timeout) or args.idle_timeout <= 0:
        raise UsageError(f"--idle-timeout must be a positive number of seconds, got {args.idle_timeout}")
    for uid in args.unix_socket_allow_uid:
        if not 0 <= uid < 2**32 - 1:
            raise UsageError(f"--unix-socket-allow-uid must be a uid (0..4294967294), got {uid}")
    for name in args.allow_host:
        if not _HOST_NAME.fullmatch(name):
            raise UsageError(f"invalid --allow-host {name!r}", hint="use a host name or address, optionally with :PORT")


def endpoint_plan(args: argparse.Namespace) -> EndpointPlan:
    """Validate every endpoint flag (no socket is touched) and decide what to serve."""
    from rasign.serve.listeners import ListenSpec, default_specs, parse_listen

    _check_endpoint_values(args)
    specs = [parse_listen(item) for item in args.listen]
    unix = [spec for spec in specs if spec.is_unix]
    tcp = [spec for spec in specs if not spec.is_unix]
    if not specs:
        tcp = default_specs(args.port)
    if args.unix_socket:
        unix.append(ListenSpec("", 0, path=os.path.abspath(args.unix_socket)))
    exposed = [spec for spec in tcp if not spec.is_loopback()]
    if exposed and not args.allow_non_loopback:
        raise UsageError(
            f"refusing to listen on non-loopback address {exposed[0].display()}",
            hint="anyone who can reach it could take the credentials; add --allow-non-loopback"
            " (an auth token is then required)",
        )
    return EndpointPlan(
        tcp=tcp,
        unix=unix,
        exposed=exposed,
        imds=args.imds or not args.ecs,
        ecs=args.ecs,
        allowed_uids=tuple(args.unix_socket_allow_uid),
        allowed_hosts=tuple(args.allow_host),
    )


def _open_listeners(plan: EndpointPlan, hop_limit: int) -> list:
    from rasign.serve.listeners import open_tcp, open_unix

    listeners = open_tcp(plan.tcp, hop_limit, plan.allowed_hosts) if plan.tcp else []
    try:
        for spec in plan.unix:
            assert spec.path is not None  # unix specs always carry a path
            listeners.append(open_unix(spec.path, plan.allowed_uids))
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    return listeners


@dataclass
class ServeSetup:
    """Everything checked before a socket is bound, a key opened or a request sent."""

    signer_options: SignerOptions
    session_options: SessionOptions
    served_arn: str
    """The role served by default (a chain serves its last role)."""
    role_name: str
    extra_arns: dict[str, str]
    """``--also-role`` ARNs by role name."""
    settings: RefreshSettings
    plan: EndpointPlan
    auth_token: str | None = None
    token_file: str | None = None


def _setup(args: argparse.Namespace) -> ServeSetup:
    """Check every flag and local file, and read (or create) the auth token: nothing else yet."""
    from rasign.chain import chain_of
    from rasign.refresh import capture_environment_secrets, settings_from_args

    signer_options = capture_environment_secrets(flags.signer_options(args))
    session_options = flags.session_options(args)
    steps = chain_of(args)
    served_arn = steps[-1].role_arn if steps else session_options.role_arn
    role_name = role_name_of(served_arn)
    setup = ServeSetup(
        signer_options=signer_options,
        session_options=session_options,
        served_arn=served_arn,
        role_name=role_name,
        extra_arns=_extra_roles(args.also_role, role_name),
        settings=settings_from_args(args),
        plan=endpoint_plan(args),
    )
    _preflight_files(args)  # local paths, before any socket, key or CreateSession
    if setup.plan.ecs or setup.plan.exposed or args.auth_token_file:
        setup.auth_token, setup.token_file = load_or_create_token(args.auth_token_file)
    return setup


@dataclass
class ServedRoles:
    """The minter, credential view and refresher of each served role (one key for all of them)."""

    minter: Any
    view: Any
    refresher: Refresher
    extras: dict[str, RoleSlot] = field(default_factory=dict)
    extra_refreshers: list[Refresher] = field(default_factory=list)
    shared: Any = None

    def start(self) -> None:
        """Open the key in the foreground, harden, then mint every role's first credentials (fail fast)."""
        from rasign.hardening import harden_process

        self.minter.open()
        harden_process()  # the key is open: PINs and passwords may leave the environment now
        for refresher in (self.refresher, *self.extra_refreshers):
            refresher.start(fail_fast=True)

    def refresh_soon(self) -> None:
        """SIGHUP: refresh every role as soon as the policy allows."""
        for refresher in (self.refresher, *self.extra_refreshers):
            refresher.refresh_soon()

    def close(self) -> None:
        for refresher in (self.refresher, *self.extra_refreshers):
            refresher.stop()
        self.minter.close()
        if self.shared is not None:
            self.shared.close()


def _served_roles(setup: ServeSetup, args: argparse.Namespace, clock: Clock) -> ServedRoles:
    """Build (without opening anything) the minters and refreshers of the default and extra roles."""
    from rasign.chain import chained
    from rasign.refresh import Refresher, SessionMinter
    from rasign.serve.handler import RoleSlot
    from rasign.serve.view import CredentialView

    policy = setup.settings.policy()
    shared = None
    if setup.extra_arns:
        from rasign.multirole import SharedSigner, role_options

        # Several roles, one key: opened once (one PIN entry, one login) and kept open.
        shared = SharedSigner(setup.signer_options)
        minter: Any = shared.minter(setup.session_options, name=setup.role_name)
    else:
        minter = SessionMinter(setup.signer_options, setup.session_options)
    minter = chained(minter, args, setup.session_options)  # --identity with a role chain: serve the last role
    view = CredentialView(role_arn=setup.served_arn, expiry_skew=policy.expiry_skew, clock=clock)
    refresher = Refresher(minter.mint, policy, on_update=view.update, name="rasign-serve-refresh", clock=clock)
    roles = ServedRoles(minter=minter, view=view, refresher=refresher, shared=shared)
    for name, arn in setup.extra_arns.items():
        assert shared is not None
        role_view = CredentialView(role_arn=arn, expiry_skew=policy.expiry_skew, clock=clock)
        role_minter = shared.minter(role_options(setup.session_options, {"role_arn": arn}), name=name)
        mint: Any = role_minter.mint  # Credentials is frozen; the refresher's protocol reads only
        role_refresher = Refresher(mint, policy, on_update=role_view.update, name=f"rasign-serve-{name}", clock=clock)
        roles.extra_refreshers.append(role_refresher)
        roles.extras[name] = RoleSlot(view=role_view, status=_status_of(role_refresher), arn=arn)
    return roles


def _context(setup: ServeSetup, roles: ServedRoles, args: argparse.Namespace) -> ServeContext:
    from rasign.serve.handler import ServeContext
    from rasign.serve.tokens import TokenSigner

    return ServeContext(
        role_name=setup.role_name,
        view=roles.view,
        tokens=TokenSigner(),
        status=_status_of(roles.refresher),
        auth_token=setup.auth_token,
        ecs_path=args.ecs_path if (setup.plan.ecs or setup.auth_token) else None,
        imds=setup.plan.imds,
        allow_non_loopback=args.allow_non_loopback,
        roles=roles.extras,
    )


def _event_loop(listeners: list[Listener], context: ServeContext, args: argparse.Namespace, clock: Clock):
    """The event loop over ``listeners``, its connection cap fitted to the open-file limit."""
    from rasign.serve.handler import Router
    from rasign.serve.loop import EventLoopServer, raise_descriptor_limit

    limit = raise_descriptor_limit(args.max_connections + len(listeners) + 128)
    cap = max(16, min(args.max_connections, limit - len(listeners) - 128))
    if cap < args.max_connections:
        log.warning(
            "serving at most %d connections: the open-file limit is %d (raise it, e.g. LimitNOFILE=)", cap, limit
        )
    return EventLoopServer(
        listeners, Router(context), max_connections=cap, idle_timeout=args.idle_timeout, clock=clock.monotonic
    )


def run(args: argparse.Namespace, *, clock: Clock | None = None, lifecycle: Lifecycle | None = None) -> int:
    """Check everything local, bind, mint the first credentials (fail fast), serve until SIGTERM.

    ``clock`` and ``lifecycle`` let tests run serve in-process on a fake clock and stop it
    (or hang it up) the way signals do.
    """
    flags.check_exclusions(args, flags.CREDENTIAL_EXCLUSIONS)
    from rasign.clock import SYSTEM
    from rasign.lifecycle import Lifecycle

    clock = clock or (lifecycle.clock if lifecycle else SYSTEM)
    lifecycle = lifecycle or Lifecycle(clock)
    setup = _setup(args)
    roles = _served_roles(setup, args, clock)
    context = _context(setup, roles, args)
    server: EventLoopServer | None = None
    try:
        listeners = _open_listeners(setup.plan, args.hop_limit)
        server = _event_loop(listeners, context, args, clock)
        if setup.plan.exposed:
            log.warning(
                "listening on non-loopback addresses %s; requests from other hosts need the auth token",
                ", ".join(spec.display() for spec in setup.plan.exposed),
            )
        roles.start()
        lifecycle.on_hangup(roles.refresh_soon)
        _serve_until_stopped(server, lifecycle, lambda: _announce(listeners, context, setup.token_file, args))
    finally:
        if server is not None:
            server.close()
        roles.close()
        if setup.token_file and not args.auth_token_file:
            try:
                os.unlink(setup.token_file)
            except OSError:
                pass
    return 0


def _serve_until_stopped(server: EventLoopServer, lifecycle: Lifecycle, announce: Any) -> None:
    """Run the event loop on its own thread until a stop request; fail if the loop dies."""
    from rasign.serve.notify import sd_notify

    loop_thread = threading.Thread(target=server.serve_forever, name="rasign-serve-loop", daemon=True)

    def check() -> None:
        if not loop_thread.is_alive():
            raise StoreError(
                "the serve event loop stopped after repeated errors",
                hint="run with --debug and report the logged error",
            )

    with lifecycle.signals():
        loop_thread.start()
        try:
            announce()
            sd_notify("READY=1\nSTATUS=serving credentials")
            lifecycle.run_until_stopped(check)
            log.info("shutting down")
            sd_notify("STOPPING=1")
        finally:
            server.stop()
            loop_thread.join(5)


def _status_of(refresher: Any) -> Any:
    """A secret-free status callable for one role's refresher (health output)."""
    return lambda: refresher.status().to_dict()


def _extra_roles(arns: list[str], primary: str) -> dict[str, str]:
    """``--also-role`` ARNs by role name (what IMDS and the ECS paths call them); names must differ."""
    roles: dict[str, str] = {}
    for arn in arns:
        name = role_name_of(arn)
        if name == primary or name in roles:
            raise UsageError(
                f"--also-role {arn}: a role named {name!r} is already served",
                hint="each served role needs its own name (the last part of its ARN)",
            )
        roles[name] = arn
    return roles


def _base_url(tcp: list[Any]) -> str | None:
    """``http://HOST:PORT`` of the first TCP listener (a wildcard listener is reached on 127.0.0.1)."""
    if not tcp:
        return None
    first = tcp[0]
    host = first.spec.host
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{first.port}" if ":" in host else f"http://{host}:{first.port}"


def _announce(listeners: list, context: ServeContext, token_file: str | None, args: argparse.Namespace) -> None:
    """Log where the credentials are (the Go helper's lines first) and write the ready file."""
    tcp = [listener for listener in listeners if not listener.is_unix]
    unix = [listener.spec.path for listener in listeners if listener.is_unix]
    listening = [listener.display() for listener in tcp]
    if tcp:
        log.info("Local server started on port: %d", tcp[0].port)
    log.info("listening on %s", ", ".join(listening + [f"unix:{path}" for path in unix]))
    base = _base_url(tcp)
    if base and context.imds:
        log.info("Make it available to the sdk by running:")
        log.info("export AWS_EC2_METADATA_SERVICE_ENDPOINT=%s/", base)
    ecs_uri = base + context.ecs_path if base and context.ecs_path else None
    if ecs_uri:
        log.info(
            "for ECS-style clients: export AWS_CONTAINER_CREDENTIALS_FULL_URI=%s"
            " AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=%s",
            ecs_uri,
            token_file,
        )
    if args.ready_file:
        _write_ready_file(args.ready_file, _ready_payload(tcp, unix, base, ecs_uri, token_file, context))


def _ready_payload(
    tcp: list[Any], unix: list[Any], base: str | None, ecs_uri: str | None, token_file: str | None, context: Any
) -> dict[str, Any]:
    """What scripts read from ``--ready-file``: the addresses, endpoints and role names."""
    return {
        "pid": os.getpid(),
        "port": tcp[0].port if tcp else None,
        "listen": [listener.display() for listener in tcp],
        "unix_socket": unix[0] if unix else None,
        "imds_endpoint": f"{base}/" if base and context.imds else None,
        "ecs_uri": ecs_uri,
        "auth_token_file": token_file,
        "role_name": context.role_name,
        "roles": {name: (ecs_uri.rstrip("/") + "/" + name if ecs_uri else None) for name in context.roles},
    }
