"""``rasign exec [--identity NAME] [--server] -- COMMAND ARGS...``: run a command with credentials.

Two ways to hand them over:

* default: the child's environment gets ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
  ``AWS_SESSION_TOKEN``, ``AWS_CREDENTIAL_EXPIRATION`` and the region, and on POSIX rasign
  *becomes* the command (``execvp``): signals, exit code and process tree are the child's,
  and nothing of rasign is left running. Good for short commands.
* ``--server``: rasign keeps a private ECS-style endpoint on loopback with a random token
  (``AWS_CONTAINER_CREDENTIALS_FULL_URI`` + ``AWS_CONTAINER_AUTHORIZATION_TOKEN``) and
  refreshes the credentials in the background, so a child that runs for hours never sees
  them expire. Signals are forwarded, the child's exit code is returned, and the endpoint
  stops when the child exits.

Nesting (running exec inside a shell exec started) would silently mix two identities, so an
environment that already holds rasign credentials is refused unless ``--allow-nested``.
PIN and password variables are never passed to the child.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from rasign.cli import flags
from rasign.errors import UsageError

if TYPE_CHECKING:
    from rasign.refresh import Refresher
    from rasign.serve.loop import EventLoopServer
    from rasign.serve.view import CredentialView

MARKER = "RASIGN_EXEC"
"""Set in the child's environment (to the identity name, or ``-``) so nesting is detected."""
CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
)
"""Removed from the child's environment first: they would compete with the credentials we give."""
CREDENTIALS_PATH = "/rasign/credentials"
ENDPOINT_CONNECTIONS = 256
"""Connections ``--server``'s endpoint keeps at once; past it the longest idle one is closed."""


def configure(parser: argparse.ArgumentParser) -> None:
    """credential-process's flags, ``--server``, ``--allow-nested``, then the command after ``--``."""
    from rasign import cache

    parser.add_argument(
        "--server",
        action="store_true",
        help="serve refreshing credentials on a private loopback endpoint instead of variables",
    )
    parser.add_argument(
        "--allow-nested",
        action="store_true",
        help="run even when the environment already holds credentials from rasign exec",
    )
    flags.add_signer_flags(parser)
    flags.add_session_flags(parser)
    flags.add_refresh_flags(parser)
    cache.add_cache_flags(parser)
    flags.add_agent_flags(parser)
    flags.add_debug_flag(parser)
    parser.add_argument(
        "child", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]", help="the command to run and its arguments"
    )


def _command(args: argparse.Namespace) -> list[str]:
    command = list(args.child or [])
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("no command to run", hint="put it after --, e.g. rasign exec --identity prod -- aws s3 ls")
    return command


def child_environment(base: dict[str, str], identity: str | None) -> dict[str, str]:
    """The parent's environment without competing credentials or PIN variables, plus the marker."""
    from rasign.hardening import SECRET_ENVIRONMENT

    dropped = {*CREDENTIAL_VARIABLES, *SECRET_ENVIRONMENT}
    env = {key: value for key, value in base.items() if key not in dropped}
    env[MARKER] = identity or "-"
    return env


def run(args: argparse.Namespace) -> int:
    """Check, obtain credentials, then exec the command or serve it an endpoint."""
    command = _command(args)
    if os.environ.get(MARKER) and not args.allow_nested:
        raise UsageError(
            f"this environment already holds credentials from rasign exec (identity {os.environ[MARKER]!r})",
            hint="exit that shell first, or pass --allow-nested to replace them",
        )
    import shutil

    if shutil.which(command[0]) is None:
        raise UsageError(f"command not found: {command[0]}", hint="check the name and PATH")
    env = child_environment(dict(os.environ), getattr(args, "identity", None))
    if args.server:
        return _run_with_server(args, command, env)
    from rasign.commands.export import credential_environment

    env.update(credential_environment(args, "exec"))
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execvpe(command[0], command, env)  # noqa: S606 - the user's own command, as typed
    import subprocess

    return subprocess.call(command, env=env)


# --------------------------------------------------------------------------- --server


def _fetcher(args: argparse.Namespace) -> tuple[Any, Any, str]:
    """(minter, fetch, region): the signer stays open across refreshes (one PIN), the chain runs after each mint.

    When a ``rasign agent`` serves the identity, every refresh asks it instead: the agent
    holds the key and the PIN, and this process never opens the key.
    """
    from rasign.agent.forward import AgentMinter, credentials_from_agent
    from rasign.chain import chained
    from rasign.refresh import SessionMinter
    from rasign.session import plan_session

    flags.check_exclusions(args, flags.CREDENTIAL_EXCLUSIONS)
    flags.check_agent_flags(args)
    planned = plan_session(flags.session_options(args))
    first = credentials_from_agent(args, "exec")
    if first is not None:
        agent_minter = AgentMinter(args, "exec", first)
        return agent_minter, agent_minter.mint, planned.target.region
    minter = chained(SessionMinter(flags.signer_options(args), planned), args, planned.options)
    return minter, minter.mint, planned.target.region


def _serve(refresher: Refresher, view: CredentialView, token: str) -> tuple[EventLoopServer, int]:
    """The child's private endpoint on 127.0.0.1: ``serve``'s own stack, ECS path only, token required.

    The same strict HTTP/1.1 parser, Host check (DNS rebinding), connection cap with
    eviction and idle timeouts as ``rasign serve``: another local user holding connections
    open cannot starve the child of credentials.
    """
    from rasign.serve.handler import Router, ServeContext
    from rasign.serve.listeners import ListenSpec, open_tcp
    from rasign.serve.loop import EventLoopServer
    from rasign.serve.tokens import TokenSigner

    listeners = open_tcp([ListenSpec("127.0.0.1", 0)], hop_limit=1)
    context = ServeContext(
        role_name="rasign-exec",
        view=view,
        tokens=TokenSigner(),
        status=lambda: refresher.status().to_dict(),
        auth_token=token,
        ecs_path=CREDENTIALS_PATH,
        imds=False,
        health=False,  # its status (role, last error) is for the child alone, which has the token
    )
    server = EventLoopServer(listeners, Router(context), max_connections=ENDPOINT_CONNECTIONS)
    threading.Thread(target=server.serve_forever, name="rasign-exec-endpoint", daemon=True).start()
    return server, listeners[0].port


def _run_with_server(args: argparse.Namespace, command: list[str], env: dict[str, str]) -> int:
    import secrets
    import signal
    import subprocess

    from rasign.hardening import harden_process
    from rasign.refresh import Refresher, settings_from_args
    from rasign.serve.view import CredentialView

    policy = settings_from_args(args).policy()
    minter, fetch, region = _fetcher(args)
    view = CredentialView(expiry_skew=policy.expiry_skew)
    refresher = Refresher(fetch, policy, on_update=view.update, name="rasign-exec-refresher")
    server = None
    try:
        minter.open()  # in the foreground: a PIN prompt reaches the terminal
        harden_process()
        refresher.start(fail_fast=True)
        token = secrets.token_urlsafe(32)
        server, port = _serve(refresher, view, token)
        env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = f"http://127.0.0.1:{port}{CREDENTIALS_PATH}"
        env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = token
        env["AWS_REGION"] = region
        env["AWS_DEFAULT_REGION"] = region
        child = subprocess.Popen(command, env=env)
        forwarded = [
            getattr(signal, name)
            for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
            if hasattr(signal, name)
        ]
        previous = {sig: signal.signal(sig, lambda number, _frame: child.send_signal(number)) for sig in forwarded}
        try:
            code = child.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 128 - code if code < 0 else code
    finally:
        if server is not None:
            server.stop()
            server.close()
        refresher.stop()
        minter.close()
