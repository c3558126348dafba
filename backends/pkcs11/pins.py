"""PIN policy for PKCS#11: where the user PIN and the context-specific PIN come from.

Why a policy module: a wrong PIN costs a try on the token's retry counter (a YubiKey PIV
PIN blocks after three), so the rules are strict and in one place:

- one ``C_Login`` attempt per PIN source; rasign never loops on ``CKR_PIN_INCORRECT``
  (the Go helper re-prompts forever) and never re-reads a source to try again;
- non-interactive sources are *re-read* when needed (recovery after a token reset)
  instead of the PIN being kept in memory; a typed PIN is kept only when it must be
  (``--reuse-pin`` with an always-authenticate key, or a prompted context PIN that a
  long-running process needs for every signature);
- a PIN never appears in a message, a log line or a ``repr``.

User PIN sources, first match wins: ``pin-value`` or ``pin-source`` in the URI (RFC 7512),
``--pkcs11-pin-file``, ``--pkcs11-pin-env NAME``, ``$RASIGN_PKCS11_PIN``, the token's
PIN pad (protected authentication path), a prompt on ``/dev/tty``.

Context PIN sources (CKA_ALWAYS_AUTHENTICATE keys): ``--pkcs11-context-pin-file``,
``--pkcs11-context-pin-env NAME``, ``$RASIGN_PKCS11_CONTEXT_PIN``, the user PIN with
``--reuse-pin``, a prompt (once; also after ``--reuse-pin`` was rejected).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from rasign.errors import AuthenticationError, ConfigError, UsageError

USER_PIN_ENV = "RASIGN_PKCS11_PIN"
CONTEXT_PIN_ENV = "RASIGN_PKCS11_CONTEXT_PIN"
NON_INTERACTIVE_HINT = (
    "give the PIN non-interactively: pin-source=file:/path or pin-value= in the URI, "
    "--pkcs11-pin-file PATH, --pkcs11-pin-env NAME or $" + USER_PIN_ENV
)
CONTEXT_HINT = (
    "give the signature PIN with --pkcs11-context-pin-file PATH, --pkcs11-context-pin-env NAME, "
    "$" + CONTEXT_PIN_ENV + " or --reuse-pin"
)


@dataclass(frozen=True)
class PinSource:
    """Where one PIN comes from. ``read()`` fetches it at the moment it is needed."""

    description: str
    """Words for messages ("file /run/pin", "environment variable X"); never the PIN."""
    interactive: bool
    _reader: Callable[[], str]

    def read(self) -> str:
        pin = self._reader()
        if not pin:
            raise AuthenticationError(
                f"the PIN from {self.description} is empty", hint="put the PIN there, without extra lines"
            )
        return pin

    def __repr__(self) -> str:
        return f"PinSource({self.description!r})"


def _file_source(path: str, description: str) -> PinSource:
    from rasign.secrets import read_secret_file

    return PinSource(description, False, lambda: read_secret_file(path, "PIN"))


def _env_source(name: str, *, required: bool) -> PinSource | None:
    from rasign.secrets import secret_from_env, watch_secret_env

    watch_secret_env(name)
    if not required and not secret_from_env(name):
        return None

    def read() -> str:
        value = secret_from_env(name)
        if value and any("\udc80" <= char <= "\udcff" for char in value):
            raise ConfigError(
                f"environment variable {name} holds bytes that are not UTF-8 text",
                hint=f"export {name} with the PIN as UTF-8 text",
            )
        if not value:
            raise ConfigError(f"environment variable {name} is not set or empty", hint=f"export {name} with the PIN")
        return value

    return PinSource(f"environment variable {name}", False, read)


def pin_source_path(value: str) -> str:
    """RFC 7512 ``pin-source``: ``file:/abs``, ``file:///abs`` or a bare absolute path."""
    if value.startswith("file://"):
        path = value[7:]
    elif value.startswith("file:"):
        path = value[5:]
    else:
        path = value
    if not path.startswith("/"):
        raise UsageError(
            f"unsupported pin-source {value!r}",
            hint="rasign reads pin-source=file:/absolute/path (or a bare absolute path)",
        )
    return path


def user_pin_source(uri_pin_value: str | None, uri_pin_source: str | None, options: object) -> PinSource | None:
    """The first configured non-interactive user PIN source, or None (PIN pad / prompt next)."""
    if uri_pin_value is not None:
        value = uri_pin_value
        return PinSource("pin-value in the URI", False, lambda: value)
    if uri_pin_source is not None:
        path = pin_source_path(uri_pin_source)
        return _file_source(path, f"pin-source file {path}")
    pin_file = getattr(options, "pkcs11_pin_file", None)
    if pin_file:
        return _file_source(pin_file, f"--pkcs11-pin-file {pin_file}")
    pin_env = getattr(options, "pkcs11_pin_env", None)
    if pin_env:
        return _env_source(pin_env, required=True)
    return _env_source(USER_PIN_ENV, required=False)


def context_pin_source(options: object) -> PinSource | None:
    """The configured non-interactive context-specific PIN source, or None."""
    pin_file = getattr(options, "pkcs11_context_pin_file", None)
    if pin_file:
        return _file_source(pin_file, f"--pkcs11-context-pin-file {pin_file}")
    pin_env = getattr(options, "pkcs11_context_pin_env", None)
    if pin_env:
        return _env_source(pin_env, required=True)
    return _env_source(CONTEXT_PIN_ENV, required=False)


def prompt(text: str, *, interactive: bool, hint: str, what: str = "PIN") -> str:
    """Ask on /dev/tty once; without permission or a terminal, fail with ``hint``."""
    if not interactive:
        from rasign.errors import PromptNeeded

        raise PromptNeeded(f"a {what} is needed and prompting is disabled", what=what, hint=hint)
    from rasign.secrets import prompt_tty

    pin = prompt_tty(text, what="PIN", how_to_avoid=hint)
    if not pin:
        raise AuthenticationError("no PIN was entered", hint="type the PIN, or " + hint)
    return pin


def tell_user(text: str) -> None:
    """Show a notice on the terminal (PIN pad, touch); stderr when there is no terminal."""
    try:
        fd = os.open("/dev/tty", os.O_WRONLY | os.O_NOCTTY)
    except OSError:
        import sys

        print(f"rasign: {text}", file=sys.stderr)
        return
    try:
        os.write(fd, (text + "\n").encode("utf-8", "replace"))
    finally:
        os.close(fd)
