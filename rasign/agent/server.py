"""The agent daemon: a unix socket, peer checks, one open signer per identity, held PINs.

Who may talk to it: the socket is created mode 0600 in a directory of mode 0700 that the
agent's user owns (it refuses a directory anyone else could write), and every connection's
peer is checked with ``SO_PEERCRED``: only the agent's own uid and root are served. That
second check holds even when a careless root loosened the permissions.

What it keeps, per identity (the parsed ``credential-process`` arguments plus the
environment that changes minting): the open signer (a logged-in PKCS#11 session, a loaded
TPM key), the credentials it minted, and the PINs and passwords its clients typed. Secrets
live only in this process's memory (non-dumpable, core files off, locked in RAM where the
system allows it) for ``--pin-ttl`` seconds (default: until the agent stops); ``lock``
forgets them all and closes every session at once.

The socket itself (one event loop, a small worker pool for minting) is
:mod:`rasign.agent.loop`.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import hashlib
import itertools
import json
import logging
import os
import socket
import stat
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rasign.agent import protocol
from rasign.clock import SYSTEM, Clock
from rasign.errors import AuthenticationError, PromptNeeded, RasignError, StoreError, UsageError

if TYPE_CHECKING:
    import argparse

    from rasign.chain import ChainedMinter
    from rasign.credentials import Credentials
    from rasign.options import SessionOptions, SignerOptions
    from rasign.refresh import SessionMinter
    from rasign.session import PlannedSession

log = logging.getLogger("rasign.agent")

DEFAULT_MARGIN = 300.0
"""Credentials closer than this to expiry are minted again (``$RASIGN_CACHE_MARGIN`` wins)."""
MAX_IDENTITIES = 256
"""Identities kept at once; past it the least recently minted one without held secrets goes."""
MAX_MEMO = 4096

_PATH_FIELDS = (
    "certificate",
    "private_key",
    "intermediates",
    "cert_store",
    "pkcs11_lib",
    "pkcs11_pin_file",
    "pkcs11_context_pin_file",
)
_SESSION_PATH_FIELDS = ("ca_bundle",)


@dataclass
class Entry:
    """One identity the agent serves."""

    label: str
    signer_options: SignerOptions
    session_options: SessionOptions
    backend: str | None
    minter: SessionMinter | ChainedMinter
    """Mints the identity's credentials: CreateSession, then its role chain if it has one."""
    original: dict[str, Any]
    """Signer option values before any typed secret was applied (restored by lock)."""
    credentials: Credentials | None = None
    answer: bytes = b""
    """The encoded answer for ``credentials`` (what a repeated request gets, pre-rendered)."""
    expires_at: datetime | None = None
    """``credentials.expires_at``, parsed once (the repeat path checks it on every answer)."""
    held: dict[str, str] = field(default_factory=dict)
    """Kind of secret -> name under which rasign.secrets holds it."""
    held_since: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    mints: int = 0
    notify: dict[str, Any] = field(default_factory=dict)
    """``notify`` -> where the signer's touch notices go for the request being served now."""


class Agent:
    """The agent's state and request handling, independent of the socket (tests drive it too)."""

    def __init__(
        self, *, clock: Clock = SYSTEM, pin_ttl: float | None = None, notice_after: float | None = None
    ) -> None:
        self.clock = clock
        self.pin_ttl = pin_ttl
        self.notice_after = notice_after
        self.entries: dict[str, Entry] = {}
        self._memo: dict[tuple[Any, ...], tuple[str, bool, list[str]]] = {}
        """Request (argv, cwd, env) -> (entry key, may the client be asked for secrets, warnings)."""
        self._table_lock = threading.Lock()
        self._repeat: dict[bytes, tuple[Entry, float]] = {}
        """Exact request line -> (entry, freshness margin): a repeated request skips parsing."""
        self._environment_lock = threading.Lock()
        self.stopping = threading.Event()
        self._secret_serial = itertools.count(1)
        """Names held PINs apart; ``next`` on it is atomic, and workers for two identities may hold at once."""

    # -- requests

    def repeat_answer(self, line: bytes) -> bytes | None:
        """The pre-rendered answer to a request seen before, while its credentials are fresh.

        ``credential-process`` sends the same bytes for the same arguments, directory and
        environment, so most requests need neither JSON decoding nor option parsing.
        """
        known = self._repeat.get(line)
        if known is None:
            return None
        entry, margin = known
        expires_at = entry.expires_at
        if expires_at is None or not entry.answer:
            return None
        if (
            self.pin_ttl is not None
            and entry.held_since is not None
            and self.clock.monotonic() - entry.held_since >= self.pin_ttl
        ):
            return None  # the full path forgets the expired secrets first
        if (expires_at - self.clock.now()).total_seconds() <= margin:
            return None
        return entry.answer

    def remember(self, line: bytes, message: dict[str, Any], answer: dict[str, Any]) -> None:
        """Let :meth:`repeat_answer` serve this exact request next time (never one carrying a secret)."""
        if (
            message.get("op") != "credentials"
            or message.get("secrets")
            or not answer.get("ok")
            or answer.get("warnings")
        ):
            return
        entry = answer.pop("_entry", None)
        if entry is None:
            return
        env = message.get("env") or {}
        with self._table_lock:
            if len(self._repeat) >= MAX_MEMO:
                self._repeat.clear()
            self._repeat[line] = (entry, self._margin(env))

    def handle(self, message: dict[str, Any], notify: Any) -> dict[str, Any]:
        """Answer one request (see :mod:`rasign.agent.protocol`)."""
        op = message.get("op")
        if op == "credentials":
            return self._credentials(message, notify)
        if op == "status":
            return {"ok": True, "status": self.status()}
        if op == "lock":
            return {"ok": True, "locked": self.lock()}
        if op == "stop":
            self.lock()
            self.stopping.set()
            return {"ok": True}
        return _error(UsageError(f"unknown agent request {str(op)[:40]!r}"))

    def _credentials(self, message: dict[str, Any], notify: Any) -> dict[str, Any]:
        fields = _request_fields(message)
        if fields is None:
            return _error(UsageError("malformed credentials request"))
        argv, cwd, env, secrets = fields
        try:
            entry, interactive, warnings = self._entry_for(argv, cwd, env)
        except RasignError as err:
            return _error(err)
        answer = self._answer(entry, interactive, secrets, message, env, cwd, notify)
        if warnings and answer.get("ok"):
            answer["warnings"] = warnings
        if answer.get("ok"):
            answer["_entry"] = entry  # for remember(); removed before the answer is sent
        return answer

    def _answer(
        self,
        entry: Entry,
        interactive: bool,
        secrets: dict[str, Any],
        message: dict[str, Any],
        env: dict[str, str],
        cwd: str,
        notify: Any,
    ) -> dict[str, Any]:
        with entry.lock:
            self._expire_secrets(entry)
            if entry.credentials is not None and self._fresh(entry.credentials, env):
                return {"ok": True, "output": entry.credentials.to_process_json()}
            for what, value in secrets.items():
                if isinstance(value, str) and value:
                    self._hold(entry, str(what), value)
            try:
                with self._environment(env, cwd):
                    credentials = self._mint(entry, notify)
            except PromptNeeded as err:
                if interactive and message.get("tty", True) and err.what not in entry.held:
                    return {
                        "ok": False,
                        "need": {"what": err.what, "prompt": _prompt_text(err.what, entry), "hint": err.hint()},
                    }
                return _error(err)
            except AuthenticationError as err:
                self._forget(entry)  # a wrong PIN is never tried again
                return _error(err)
            except RasignError as err:
                return _error(err)
            except Exception as err:  # noqa: BLE001 - a bug must not kill the agent
                log.exception("minting failed")
                return _error(RasignError(f"internal error in the agent: {type(err).__name__}"), exit_code=70)
            entry.credentials = credentials
            entry.expires_at = credentials.expires_at
            entry.answer = protocol.encode({"ok": True, "output": credentials.to_process_json()})
            return {"ok": True, "output": credentials.to_process_json()}

    def _entry_for(self, argv: list[str], cwd: str, env: dict[str, str]) -> tuple[Entry, bool, list[str]]:
        memo_key = (tuple(argv), cwd, tuple(sorted(env.items())))
        with self._table_lock:
            known = self._memo.get(memo_key)
            if known is not None and known[0] in self.entries:
                return self.entries[known[0]], known[1], known[2]
        with self._environment_lock, _applied(env, cwd):
            args, signer_options, planned, warnings = _parse(argv, cwd)
        from rasign.cache import cache_key
        from rasign.chain import chain_of, chained_cache_key

        backend = signer_options.backend
        identity = cache_key(signer_options, planned.options) or hashlib.sha256(repr(argv).encode()).hexdigest()
        steps = chain_of(args)
        if steps:  # a chained identity never shares an entry with its first role alone
            identity = chained_cache_key(identity, steps, getattr(args, "identity_sts_endpoint", None))
        public_env = sorted((k, v) for k, v in env.items() if k not in _SECRET_NAMES)
        key = hashlib.sha256(json.dumps([identity, backend, public_env]).encode()).hexdigest()
        interactive = signer_options.interactive
        with self._table_lock:
            entry = self.entries.get(key)
            if entry is None:
                self._make_room()
                entry = self._new_entry(args, signer_options, planned)
                self.entries[key] = entry
            if len(self._memo) >= MAX_MEMO:
                self._memo.clear()  # only a cache of parsing; entries stay
            self._memo[memo_key] = (key, interactive, warnings)
        return entry, interactive, warnings

    def _make_room(self) -> None:
        """Keep at most :data:`MAX_IDENTITIES` (caller holds the table lock)."""
        while len(self.entries) >= MAX_IDENTITIES:
            idle = [k for k, e in self.entries.items() if not e.held] or list(self.entries)
            victim = self.entries.pop(idle[0])
            victim.minter.close()

    def _new_entry(self, args: argparse.Namespace, signer_options: SignerOptions, planned: PlannedSession) -> Entry:
        from rasign.agent.notices import NoticeSigner, threshold_from_env
        from rasign.chain import chain_of, chained
        from rasign.refresh import SessionMinter

        threshold = self.notice_after if self.notice_after is not None else threshold_from_env()
        holder: dict[str, Any] = {}

        def wrap(signer: Any) -> Any:
            return NoticeSigner(signer, lambda line: holder["notify"](line), threshold)

        # The agent never prompts itself: a needed secret goes back to the client's terminal.
        signer_options = dataclasses.replace(signer_options, interactive=False)
        # The plan made while the client's environment was applied: planning again here, outside
        # it, would check the agent's own proxy and CA settings instead of the client's.
        session_options = planned.options
        minter = chained(SessionMinter(signer_options, planned, wrap_signer=wrap), args, session_options)
        steps = chain_of(args)
        role = steps[-1].role_arn if steps else session_options.role_arn or "?"
        via = f" (chained from {session_options.role_arn})" if steps else ""
        label = f"{role}{via} with {signer_options.certificate or signer_options.cert_selector or '?'}"
        original = {name: getattr(signer_options, name) for name in _SECRET_FIELDS}
        return Entry(label, signer_options, session_options, signer_options.backend, minter, original, notify=holder)

    def _mint(self, entry: Entry, notify: Any) -> Credentials:
        entry.notify["notify"] = notify
        credentials: Credentials = entry.minter.mint()
        entry.mints += 1
        return credentials

    def _fresh(self, credentials: Credentials, env: dict[str, str]) -> bool:
        return (credentials.expires_at - self.clock.now()).total_seconds() > self._margin(env)

    @staticmethod
    def _margin(env: dict[str, str]) -> float:
        raw = env.get("RASIGN_CACHE_MARGIN")
        if raw:
            try:
                return max(0.0, float(raw))
            except ValueError:
                pass
        return DEFAULT_MARGIN

    # -- secrets

    def _hold(self, entry: Entry, what: str, value: str) -> None:
        from rasign.secrets import hold_secret

        options = entry.signer_options
        if what in ("PIN", "context PIN"):
            name = f"RASIGN_AGENT_SECRET_{next(self._secret_serial)}"
            hold_secret(name, value)
            if what == "PIN":
                options.pkcs11_pin_env = name
            else:
                options.pkcs11_context_pin_env = name
            entry.held[what] = name
        elif what == "TPM key password":
            options.tpm_key_password = value
            entry.held[what] = ""
        elif what == "PKCS#8 password":
            options.pkcs8_password = value
            entry.held[what] = ""
        else:
            return
        if entry.held_since is None:
            entry.held_since = self.clock.monotonic()

    def _forget(self, entry: Entry) -> None:
        from rasign.secrets import forget_secret

        for name in entry.held.values():
            if name:
                forget_secret(name)
        entry.held.clear()
        entry.held_since = None
        for name, value in entry.original.items():
            setattr(entry.signer_options, name, value)
        entry.minter.close()
        with self._table_lock:
            self._repeat = {line: known for line, known in self._repeat.items() if known[0] is not entry}
        entry.credentials = entry.credentials  # minted credentials stay valid; only keys and PINs go

    def _expire_secrets(self, entry: Entry) -> None:
        if self.pin_ttl is not None and entry.held_since is not None:
            if self.clock.monotonic() - entry.held_since >= self.pin_ttl:
                log.info("forgetting the secrets of %s after %g s", entry.label, self.pin_ttl)
                self._forget(entry)

    def lock(self) -> int:
        """Forget every held secret and close every signer; return how many identities were locked."""
        count = 0
        with self._table_lock:
            entries = list(self.entries.values())
        for entry in entries:
            with entry.lock:
                if entry.held or entry.minter.is_open:
                    count += 1
                self._forget(entry)
        return count

    def status(self) -> list[dict[str, Any]]:
        """Identities, expiry and lock state; never a secret."""
        report = []
        with self._table_lock:
            entries = list(self.entries.values())
        for entry in entries:
            credentials = entry.credentials
            left = None
            if credentials is not None:
                left = int((credentials.expires_at - self.clock.now()).total_seconds())
            report.append(
                {
                    "identity": entry.label,
                    "backend": entry.backend or "",
                    "expiration": credentials.expiration if credentials else None,
                    "seconds_left": left,
                    "signer_open": entry.minter.is_open,
                    "secrets_held": sorted(entry.held),
                    "mints": entry.mints,
                }
            )
        return report

    def close(self) -> None:
        self.lock()

    @contextlib.contextmanager
    def _environment(self, env: dict[str, str], cwd: str) -> Any:
        with self._environment_lock, _applied(env, cwd):
            yield


_SECRET_FIELDS = ("pkcs11_pin_env", "pkcs11_context_pin_env", "tpm_key_password", "pkcs8_password")
_SECRET_NAMES = frozenset(
    {
        "RASIGN_PKCS11_PIN",
        "RASIGN_PKCS11_CONTEXT_PIN",
        "RASIGN_PKCS8_PASSWORD",
        "RASIGN_TPM_KEY_PASSWORD",
        "RASIGN_TPM_PARENT_PASSWORD",
    }
)


def _request_fields(
    message: dict[str, Any],
) -> tuple[list[str], str, dict[str, str], dict[str, Any]] | None:
    """A credentials request's argv, cwd, env and secrets, or None when one has the wrong type."""
    argv, cwd, env = message.get("argv"), message.get("cwd"), message.get("env")
    secrets = message.get("secrets") or {}
    if (
        isinstance(argv, list)
        and all(isinstance(a, str) for a in argv)
        and isinstance(cwd, str)
        and isinstance(env, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
        and isinstance(secrets, dict)
    ):
        return argv, cwd, env, secrets
    return None


def _prompt_text(what: str, entry: Entry) -> str:
    return f"rasign agent: enter the {what} for {entry.signer_options.certificate or entry.label}: "


def _error(err: RasignError, exit_code: int | None = None) -> dict[str, Any]:
    from rasign.textsafe import clean

    return {
        "ok": False,
        "error": {
            "class": type(err).__name__,
            "exit_code": exit_code or err.exit_code,
            "line": clean(err.one_line(), 2000),
        },
    }


@contextlib.contextmanager
def _applied(env: dict[str, str], cwd: str) -> Any:
    """Run with the client's variables (those :mod:`protocol` forwards) in ``os.environ``, in its directory.

    The directory matters beyond the flags' paths: ``--config config.toml``,
    ``RASIGN_CONFIG`` and the paths in an identities file are the client's, as they would be
    in its own process. A directory the agent cannot enter leaves the agent's own (the
    flags' paths were made absolute already). Callers hold the environment lock.
    """
    here: int | None = None
    try:
        here = os.open(".", os.O_RDONLY)
        os.chdir(cwd)
    except OSError:
        pass
    saved = {
        name: value
        for name, value in os.environ.items()
        if name.startswith(protocol.ENV_PREFIXES) or name in protocol.ENV_NAMES
    }
    for name in saved:
        os.environ.pop(name, None)
    os.environ.update({k: v for k, v in env.items() if k != protocol.SOCKET_ENV})
    try:
        yield
    finally:
        for name in list(os.environ):
            if name.startswith(protocol.ENV_PREFIXES) or name in protocol.ENV_NAMES:
                os.environ.pop(name, None)
        os.environ.update(saved)
        if here is not None:
            os.fchdir(here)
            os.close(here)


def _parse(argv: list[str], cwd: str) -> tuple[argparse.Namespace, SignerOptions, PlannedSession, list[str]]:
    """``credential-process`` arguments to options, exactly as the CLI parses and checks them.

    Returns the parsed arguments (a named identity's role chain rides on them), the signer
    options, the planned session (checked once, here) and the warning lines the client
    should print.
    """
    from rasign.cli import flags
    from rasign.cli.main import parse_credential_process
    from rasign.session import plan_session

    def resolve(args: Any) -> None:
        for name in (*_PATH_FIELDS, *_SESSION_PATH_FIELDS):
            _absolute(args, name, cwd)

    args, warnings = parse_credential_process(
        [a for a in argv if a not in ("--agent", "--no-agent")], resolve_paths=resolve
    )
    signer_options = flags.signer_options(args)
    planned = plan_session(flags.session_options(args))
    return args, signer_options, planned, warnings


def _absolute(options: Any, name: str, cwd: str) -> None:
    value = getattr(options, name, None)
    if (
        isinstance(value, str)
        and value
        and not value.startswith(("pkcs11:", "handle:", "file://", "/", "~"))
        and ":" not in value.split("/")[0]
    ):
        setattr(options, name, os.path.join(cwd, value))


# --------------------------------------------------------------------------- the socket


def prepare_socket_dir(path: str) -> None:
    """Make the socket's directory (0700, ours) and clear a stale socket; refuse anything unsafe.

    Only the socket's own directory is created (``$XDG_RUNTIME_DIR/rasign``), never the
    directories above it: a mistyped ``--socket /nonexistent/x`` run as root must not
    leave a new directory at the top of the file system.
    """
    directory = os.path.dirname(path) or "."
    parent = os.path.dirname(os.path.abspath(directory))
    if not os.path.isdir(parent):
        raise StoreError(
            f"cannot create the agent socket directory {directory}: {parent} does not exist",
            hint=f"create {parent} first, or set {protocol.SOCKET_ENV} to a path in a directory of your own",
        )
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, mode=0o700)
        info = os.lstat(directory)
    except OSError as err:
        raise StoreError(f"cannot create the agent socket directory {directory}: {err.strerror or err}") from err
    if not stat.S_ISDIR(info.st_mode):
        raise StoreError(f"the agent socket directory {directory} is not a directory")
    if info.st_uid != os.getuid():
        raise StoreError(
            f"the agent socket directory {directory} belongs to uid {info.st_uid}, not to you",
            hint=f"remove it, or set {protocol.SOCKET_ENV} to a path in a directory of your own",
        )
    if info.st_mode & 0o077:
        raise StoreError(
            f"the agent socket directory {directory} is open to other users (mode {stat.S_IMODE(info.st_mode):o})",
            hint=f"chmod 700 {directory}",
        )
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise StoreError(f"{path} exists and is not a socket", hint="remove it, or choose another socket path")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # stale: nobody listens
        else:
            raise StoreError(f"another rasign agent is already listening on {path}", hint="rasign agent stop")
        finally:
            probe.close()


def lock_memory() -> bool:
    """Keep the agent's pages out of swap (``mlockall``), where the system allows it.

    Only when it cannot starve the process: with CAP_IPC_LOCK (root) or an unlimited
    ``RLIMIT_MEMLOCK``; pages are locked as they are touched (``MCL_ONFAULT``).
    """
    if not sys.platform.startswith("linux"):
        return False
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if os.geteuid() != 0 and soft != resource.RLIM_INFINITY:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return False
    MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4
    return bool(libc.mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0)


def systemd_listen_fd() -> int | None:
    """The socket systemd passed (``LISTEN_FDS``/``LISTEN_PID``), or None."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    try:
        count = int(os.environ.get("LISTEN_FDS", "0"))
    except ValueError:
        return None
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    return 3 if count >= 1 else None
