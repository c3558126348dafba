"""``rasign agent``: run the per-user agent, or talk to the one that runs.

``rasign agent`` runs it in the foreground (systemd, a terminal); ``--daemon`` detaches and
prints the ``export RASIGN_AGENT_SOCK=...`` line, as ``ssh-agent`` does; ``--systemd``
takes the socket systemd passes (socket activation, docs/systemd/rasign-agent.socket).
``rasign agent status|lock|stop`` ask the running agent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading

from rasign.cli import flags
from rasign.errors import StoreError, UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    """The agent's own options; ``ACTION`` talks to a running agent instead of starting one."""
    parser.add_argument(
        "action",
        nargs="?",
        choices=("run", "status", "lock", "stop"),
        default="run",
        help="run (default): start the agent; status | lock | stop: ask the running one",
    )
    parser.add_argument(
        "--socket",
        metavar="PATH",
        help="socket path (default $RASIGN_AGENT_SOCK, else $XDG_RUNTIME_DIR/rasign/agent.sock)",
    )
    parser.add_argument("--daemon", action="store_true", help="detach into the background and print the export line")
    parser.add_argument("--systemd", action="store_true", help="use the socket systemd passes (LISTEN_FDS)")
    parser.add_argument(
        "--pin-ttl",
        type=_seconds,
        metavar="SECONDS",
        help="forget typed PINs and passwords after this long (default: until the agent stops)",
    )
    parser.add_argument("--json", action="store_true", help="status as JSON")
    flags.add_debug_flag(parser)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text!r}") from None
    if not (0 < value < 10**9):
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def run(args: argparse.Namespace) -> int:
    """Start the agent, or send one request to it."""
    from rasign.agent import protocol

    path = os.path.abspath(args.socket or protocol.socket_path())  # mints run in their clients' directories
    if args.action != "run":
        return _ask(args.action, path, as_json=args.json)
    if args.daemon and args.systemd:
        raise UsageError("--daemon and --systemd exclude each other")
    return _serve(path, args)


def _ask(action: str, path: str, *, as_json: bool) -> int:
    from rasign.agent.client import AgentNotTrusted, AgentUnavailable, request

    try:
        answer = request({"op": action}, path=path, timeout=30)
    except AgentNotTrusted as err:
        raise StoreError(str(err)) from err
    except AgentUnavailable as err:
        raise StoreError(f"no rasign agent is running ({err})", hint="start one with: rasign agent --daemon") from err
    if not answer.get("ok"):
        error = answer.get("error") or {}
        raise StoreError(str(error.get("line", "the agent refused the request")))
    if action == "status":
        entries = answer.get("status") or []
        if as_json:
            print(json.dumps(entries, indent=2))
            return 0
        if not entries:
            print("the agent holds no identity yet")
        for entry in entries:
            left = entry.get("seconds_left")
            state = "unlocked" if entry.get("signer_open") or entry.get("secrets_held") else "locked"
            expiry = f"expires {entry['expiration']} ({left} s)" if entry.get("expiration") else "no credentials yet"
            print(f"{entry['identity']}: {expiry}, {state}, {entry.get('mints', 0)} session(s) minted")
    elif action == "lock":
        print(f"locked {answer.get('locked', 0)} identit{'y' if answer.get('locked') == 1 else 'ies'}")
    return 0


def _serve(path: str, args: argparse.Namespace) -> int:
    from rasign.agent.loop import AgentServer
    from rasign.agent.server import Agent, lock_memory, systemd_listen_fd
    from rasign.hardening import harden_process
    from rasign.lifecycle import Lifecycle

    listen_fd = systemd_listen_fd() if args.systemd else None
    if args.systemd and listen_fd is None:
        raise UsageError("--systemd needs the socket systemd passes (LISTEN_FDS); start it from rasign-agent.socket")
    agent = Agent(pin_ttl=args.pin_ttl)
    server = AgentServer(None if listen_fd is not None else path, agent, listen_fd=listen_fd)
    harden_process()
    locked = lock_memory()
    if args.daemon:
        _detach(path)
    else:
        print(
            f"rasign agent listening on {path if listen_fd is None else 'the systemd socket'}"
            f"{'' if locked else ' (memory not locked: RLIMIT_MEMLOCK too low)'}",
            file=sys.stderr,
            flush=True,
        )

    lifecycle = Lifecycle(hangup_does="forgetting every PIN and closing token sessions")
    lifecycle.on_stop(agent.stopping.set)
    lifecycle.on_stop(server.stop)  # sets a flag and wakes the loop: safe in a signal handler
    # lock waits for a mint in progress: off the loop's thread, so repeat answers go on meanwhile.
    lifecycle.on_hangup(lambda: threading.Thread(target=agent.lock, daemon=True).start())
    try:
        with lifecycle.signals():
            server.serve_forever(poll_interval=0.5)
    finally:
        agent.close()
        server.server_close()
    return 0


def _detach(path: str) -> None:
    """Fork into the background (double fork, new session), print the export line, quiet stdio."""
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        os.read(read_end, 1)  # the grandchild is up
        print(f"{'RASIGN_AGENT_SOCK'}={path}; export RASIGN_AGENT_SOCK;")
        sys.stdout.flush()
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.close(read_end)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.write(write_end, b"1")
    os.close(write_end)
