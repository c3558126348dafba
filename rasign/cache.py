"""Credential cache for ``credential-process``.

The AWS CLI runs ``credential_process`` for *every* command and never caches its output
(aws/aws-cli#5585). With a hardware key that means a PIN prompt or a touch, plus a
CreateSession round trip, per command. This cache keeps the JSON the command printed and
hands it back while it is valid for longer than a safety margin.

Design constraints, and why:

* **Standard library only** (plus ``rasign.errors`` and ``rasign.clock``, both stdlib-only;
  every read of the time goes through a :class:`~rasign.clock.Clock`). A cache hit must
  not import ``cryptography``, ``ssl`` or the HTTPS client: the whole point is to be fast. The
  certificate fingerprint is therefore SHA-256 over the certificate *file bytes*.
* **Keyed by everything that changes the answer**: every options field whose cache
  decision (rasign/options.py field metadata) is ``key`` -- certificate (file bytes or
  PKCS#11 URI without ``pin-value``), key spec, module path, TCTI, PCR selection, ARNs,
  duration, session name, region, endpoint, CA bundle, TLS verification, plug-in options --
  and the environment variables that stand in for some of them. A different role, token
  module or TPM never gets another one's credentials.
* **Private**: ``$RASIGN_CACHE_DIR``, else ``$XDG_RUNTIME_DIR/rasign`` (tmpfs, per user,
  cleared at logout), else ``~/.cache/rasign``; directory 0700, files 0600, written
  atomically. A directory owned by someone else or writable by group/others is refused:
  whoever can write it could plant credentials for us to use.
* The margin defaults to 15 minutes -- botocore's advisory refresh window -- so an SDK
  never receives credentials it would immediately want to refresh again.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from typing import Any

from rasign.cachedir import DIR_ENV, cache_dir
from rasign.clock import SYSTEM, Clock
from rasign.errors import StoreError

CACHE_FORMAT = 1
DEFAULT_MARGIN_SECONDS = 900
"""Hand out cached credentials only while they have more than this left."""
MARGIN_ENV = "RASIGN_CACHE_MARGIN"


# --------------------------------------------------------------------------- location (the directory itself: rasign.cachedir)


def _check_private_dir(path: str) -> None:
    """Refuse a directory another user could write or own."""
    try:
        info = os.lstat(path)
    except OSError as err:
        raise StoreError(f"cannot use the credential cache {path}: {err.strerror or err}") from err
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise StoreError(
            f"the credential cache {path} is not a directory",
            hint=f"remove it or set {DIR_ENV} to a private directory",
        )
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise StoreError(
            f"the credential cache {path} is owned by another user (uid {info.st_uid})",
            hint=f"set {DIR_ENV} to a directory you own, or run without --cache",
        )
    if info.st_mode & 0o022:
        raise StoreError(
            f"the credential cache {path} is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o})",
            hint=f"run: chmod 700 {path}",
        )


def private_dir() -> str:
    """Create (0700) and check the per-user private directory; return its path."""
    path = cache_dir()
    if not os.path.isdir(path):
        from rasign import fsafe

        try:
            fsafe.ensure_directory(path, "credential cache", mode=0o700)
        except StoreError as err:
            raise StoreError(err.message, hint=f"set {DIR_ENV} to a writable private directory") from err
    _check_private_dir(path)
    return path


# --------------------------------------------------------------------------- keys


def _strip_pin_value(uri: str) -> str:
    """A PKCS#11 URI without its ``pin-value`` (the PIN must never reach the cache key)."""
    if "?" not in uri:
        return uri
    path, _, query = uri.partition("?")
    kept = [part for part in query.split("&") if part and not part.lower().startswith("pin-value=")]
    return path + ("?" + "&".join(kept) if kept else "")


def _regular_file(path: str) -> bool:
    """True for a regular file: a FIFO or a device named as a certificate must not block us."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _file_fingerprint(path: str) -> str | None:
    if not _regular_file(path):
        return None
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


KEY_ENVIRONMENT = (
    "AWS_ENDPOINT_URL_ROLESANYWHERE",
    "AWS_ENDPOINT_URL",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_CA_BUNDLE",
    "RASIGN_TPM_TCTI",
    "TPM_DEVICE",
    "TPM2TOOLS_TCTI",
    "TPM2OPENSSL_TCTI",
    "TPM2_PKCS11_TCTI",
    "TCTI",
)
"""Environment variables that choose the endpoint, its TLS trust or the TPM: part of the key,
because they change the credentials exactly as the flags they stand in for do."""

_SECRET_WORDS = ("pin", "password", "passphrase", "passwd", "secret")
"""A plug-in option whose name contains one of these is treated as a secret: its value never
enters the key (only that the option was given)."""

_PATH_KINDS = frozenset({"path", "libpath"})
"""Option kinds (``Flag.config`` in rasign.options) keyed by their absolute path, so the same
file named two ways is one identity; a bare library name (``libsofthsm2.so``) stays as given."""


def _identity_value(name: str, value: str) -> str | None:
    """A certificate or key: URI without its PIN, handle, certificate bytes' hash, or key path."""
    if value.startswith("pkcs11:"):
        return "uri:" + _strip_pin_value(value)
    if value.startswith("handle:"):
        return "handle:" + value.lower()
    if name == "certificate":
        fingerprint = _file_fingerprint(value)
        return None if fingerprint is None else "sha256:" + fingerprint
    # The key's path, not its bytes: no need to read secret material for a cache key.
    return "path:" + os.path.abspath(value)


def _plugin_options_value(value: dict[Any, Any]) -> str:
    """Plug-in options, with the value of any option that looks secret replaced by a marker."""
    shown = {
        str(option): ("<secret>" if any(word in str(option).lower() for word in _SECRET_WORDS) else str(setting))
        for option, setting in value.items()
    }
    return json.dumps(shown, sort_keys=True)


def _key_value(name: str, value: Any, kind: str | None = None) -> str | None:
    """The text one ``KEY`` field contributes; None when the identity cannot be fingerprinted.

    ``kind`` is the field's option kind: a path-like field needs no entry here to be keyed by
    its absolute path.
    """
    text = value if isinstance(value, str) and value else None
    if text is not None and name in ("certificate", "private_key"):
        return _identity_value(name, text)
    if text is not None and name == "intermediates":
        return "sha256:" + (_file_fingerprint(text) or os.path.abspath(text))
    if text is not None and kind in _PATH_KINDS:
        return "path:" + (os.path.abspath(text) if os.sep in text or text.startswith(".") else text)
    if name == "extra" and isinstance(value, dict):
        return _plugin_options_value(value)
    return json.dumps(value, sort_keys=True, default=str)


def _field_parts(options: Any, prefix: str) -> list[str] | None:
    """``prefix.name=value`` for each field of an options dataclass whose decision is ``key``.

    None when a field has no cache decision (never guess: a new option might change the
    credentials) or when a ``key`` field cannot be fingerprinted.
    """
    import dataclasses

    if not dataclasses.is_dataclass(options):
        return None
    parts: list[str] = []
    for item in dataclasses.fields(options):
        decision = item.metadata.get("cache")
        if decision not in ("key", "ignore", "secret"):
            return None
        if decision != "key":
            continue
        spec = item.metadata.get("flag")
        text = _key_value(item.name, getattr(options, item.name), getattr(spec, "config", None))
        if text is None:
            return None
        parts.append(f"{prefix}.{item.name}={text}")
    return parts


def _identity_parts(signer_options: Any) -> list[str] | None:
    """Key material from every ``SignerOptions`` field marked ``key``; None when uncacheable.

    Nothing identifies the certificate without a certificate, a key or a selector, and an
    unreadable certificate file is left for the normal path to report.
    """
    if not any(getattr(signer_options, name, None) for name in ("certificate", "private_key", "cert_selector")):
        return None
    return _field_parts(signer_options, "signer")


def cache_key(signer_options: Any, session_options: Any) -> str | None:
    """A stable key for this identity + session request, or None when uncacheable.

    Built from every field of :class:`~rasign.options.SignerOptions` and
    :class:`~rasign.options.SessionOptions` whose cache decision is ``key`` (module path,
    TCTI, PCR selection, TLS verification, CA bundle, endpoint, plug-in options...), plus
    the environment variables in :data:`KEY_ENVIRONMENT`. Secrets never enter it. None
    means "do not cache"; the caller then takes the normal path, which reports any problem.
    """
    identity = _identity_parts(signer_options)
    session = _field_parts(session_options, "session")
    if identity is None or session is None:
        return None
    environment = [f"env.{name}={os.environ.get(name, '')}" for name in KEY_ENVIRONMENT]
    material = "\n".join([f"rasign-cache-key-v2 format {CACHE_FORMAT}", *identity, *session, *environment])
    return hashlib.sha256(material.encode("utf-8", "surrogateescape")).hexdigest()


# --------------------------------------------------------------------------- entries


def _margin() -> float:
    raw = os.environ.get(MARGIN_ENV)
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
    return float(DEFAULT_MARGIN_SECONDS)


def _parse_expiration(value: str) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp, or None when it is not one (the entry is ignored)."""
    from rasign.credentials import parse_timestamp

    try:
        return parse_timestamp(value).timestamp()
    except (ValueError, OverflowError):
        return None


def _entry_path(key: str) -> str:
    if not key or any(ch not in "0123456789abcdef" for ch in key):
        raise StoreError("invalid cache key")
    return os.path.join(private_dir(), key + ".json")


LOCK_TIMEOUT_SECONDS = 120.0
"""How long a miss waits for another process that is minting the same credentials."""

_held_locks: dict[str, int] = {}


def _acquire_mint_lock(key: str, clock: Clock = SYSTEM) -> int | None:
    """Exclusive lock on ``<key>.lock``, polled up to :data:`LOCK_TIMEOUT_SECONDS`.

    Returns the descriptor, or None when locking is unavailable or timed out (the caller
    then simply mints without coordination).
    """
    try:
        import fcntl
    except ImportError:
        return None
    from rasign import fsafe

    path = os.path.join(private_dir(), key + ".lock")
    try:
        fd = fsafe.open_lock(path, "credential cache lock")  # O_NOFOLLOW, regular files only
    except OSError:
        return None
    import threading

    deadline = clock.monotonic() + LOCK_TIMEOUT_SECONDS
    never = threading.Event()  # nothing sets it: a wait on it is the clock's sleep
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError:
            if clock.monotonic() >= deadline:
                os.close(fd)
                return None
            clock.wait(never, 0.05)


def _release_mint_lock(key: str) -> None:
    fd = _held_locks.pop(key, None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


def load_cached(key: str, *, clock: Clock = SYSTEM) -> str | None:
    """The cached credential_process JSON for ``key`` if valid beyond the margin, else None.

    Single flight: on a miss this waits while another process is minting the same
    credentials (it may be waiting for a PIN) and returns what that process stored, so
    parallel AWS CLI calls cause one CreateSession and one prompt, not one each. When it
    returns None the caller holds the mint lock until :func:`store_cached` (or its exit,
    which releases the lock if minting failed).
    """
    hit = _read_entry(key, clock)
    if hit is not None:
        return hit
    fd = _acquire_mint_lock(key, clock)
    if fd is None:
        return None
    hit = _read_entry(key, clock)
    if hit is not None:
        os.close(fd)
        return hit
    _release_mint_lock(key)
    _held_locks[key] = fd
    return None


def _read_entry(key: str, clock: Clock = SYSTEM) -> str | None:
    path = _entry_path(key)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (hasattr(os, "geteuid") and info.st_uid != os.geteuid()) or info.st_mode & 0o077:
            return None  # not ours, or readable by others: never trust it
        with os.fdopen(fd, "rb") as handle:
            fd = -1
            raw = handle.read(1 << 20)
    finally:
        if fd >= 0:
            os.close(fd)
    try:
        entry = json.loads(raw)
        if entry.get("format") != CACHE_FORMAT:
            return None
        expires = _parse_expiration(str(entry["expiration"]))
        process_json = entry["process_json"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if expires is None or not isinstance(process_json, str):
        return None
    if expires - clock.now().timestamp() <= _margin():
        return None
    return process_json


def store_cached(key: str, process_json: str, expiration: str) -> None:
    """Remember ``process_json`` (valid until ``expiration``) under ``key``, atomically, 0600."""
    from rasign import fsafe

    try:
        path = _entry_path(key)
        payload = json.dumps({"format": CACHE_FORMAT, "expiration": expiration, "process_json": process_json}).encode(
            "utf-8"
        )
        # Always 0600 (keep_mode=False) and never through a link: an entry is ours alone.
        fsafe.write_atomic(path, payload, "credential cache entry", mode=0o600, keep_mode=False, follow_final=False)
    finally:
        _release_mint_lock(key)


def purge_expired(clock: Clock = SYSTEM) -> int:
    """Delete expired entries; returns how many were removed. Safe to call any time."""
    directory = private_dir()
    removed = 0
    now = clock.now().timestamp()
    for name in os.listdir(directory):
        if not name.endswith(".json"):
            continue
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as handle:
                entry = json.loads(handle.read(1 << 20))
            expires = _parse_expiration(str(entry.get("expiration", "")))
        except (OSError, ValueError, AttributeError):
            expires = None
        if expires is None or expires <= now:
            try:
                os.unlink(path)
                removed += 1
            except OSError:
                pass
    return removed


# --------------------------------------------------------------------------- policy


def cache_wanted(args: Any, signer_options: Any) -> bool:
    """Whether ``credential-process`` should use the cache.

    ``--cache``/``--no-cache`` win. Otherwise the backend that will sign decides, through
    :meth:`rasign.backend.Backend.needs_human`: the cache is on exactly when minting may
    need a person (a PKCS#11 PIN or touch, a TPM key with a password, a store on a
    token). Plain files stay uncached by default, matching the Go helper. Inputs no
    backend accepts are not cached; the normal path reports them.
    """
    explicit = getattr(args, "cache", None)
    if explicit is not None:
        return bool(explicit)
    from rasign.errors import RasignError
    from rasign.registry import choose_backend, load_backend

    forced = getattr(signer_options, "backend", None) or getattr(args, "backend", None)
    try:
        return bool(load_backend(forced or choose_backend(signer_options)).needs_human(signer_options))
    except RasignError:
        return False


def add_cache_flags(parser: Any) -> None:
    """Add ``--cache``/``--no-cache`` to an argparse parser (dest ``cache``, default None)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--cache",
        dest="cache",
        action="store_true",
        default=None,
        help="reuse credentials from the private per-user cache while they are valid"
        " (default: on when a PIN or TPM password would be needed)",
    )
    group.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="always mint fresh credentials",
    )
