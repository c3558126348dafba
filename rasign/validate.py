"""Validators for option values, shared by the CLI (argparse ``type=``) and the Python API.

A bad value must fail where it is given, in one line that names it and the fix, before any
key is opened or any request is sent: an endpoint with port 99999 must not reach urllib3
(which raised ``InvalidURL``, exit 70), ``https://host:`` must not quietly become port 443,
and a NaN timeout must not be discovered after two requests were sent.

Each validator raises :class:`~rasign.errors.ConfigError` (exit 3). :func:`flag` wraps one
for argparse: argparse swallows ``ValueError`` (which ``ConfigError`` is) into a vague
"invalid value" message, so the wrapper re-raises the same text as :class:`OptionValueError`,
which argparse lets through to the CLI's error handler unchanged.

Standard library only: the CLI imports this on the cache-hit path of ``credential-process``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import SplitResult, urlsplit

from rasign.errors import ConfigError, RasignError
from rasign.textsafe import clean

T = TypeVar("T")

PARTITION_NAMES = frozenset(
    {"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"}
)
"""AWS partitions Roles Anywhere can live in; an ARN naming another one is a typo."""

TIMEOUT_MAX = 3600.0
"""Longest connect/read timeout accepted: more is a typo, and huge values overflow time_t."""

MAX_ATTEMPTS_MAX = 100
"""Most attempts per CreateSession: botocore sets no limit, but more than this is a typo."""
_REGION = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_HOST_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_URL_HINT = "use https://HOST[:PORT][/PATH] with a port of 1-65535 and IPv6 addresses in brackets"


class OptionValueError(RasignError):
    """A command-line option value a validator refused (same exit code as ConfigError).

    Not a ``ValueError`` on purpose: argparse would replace the message with its own.
    """

    exit_code = ConfigError.exit_code


def flag(validator: Callable[[str], T], name: str) -> Callable[[str], T]:
    """An argparse ``type=`` for ``validator`` whose errors name the flag ``name``."""

    def convert(text: str) -> T:
        try:
            return validator(text)
        except ConfigError as err:
            raise OptionValueError(f"{name}: {err.message}", hint=err.hint()) from err

    convert.__name__ = getattr(validator, "__name__", "value")
    return convert


def _shown(text: object) -> str:
    return repr(clean(text, 120))


def endpoint_url(text: str) -> str:
    """Check a CreateSession endpoint URL and return it without a trailing slash.

    A bare ``HOST[:PORT]`` means https. Refused: other schemes, no host, a port outside
    1-65535 or an empty port (never silently 443/80), an unbracketed IPv6 literal, white
    space or control characters, user information, a query string or a fragment.
    """
    if not isinstance(text, str):
        raise ConfigError(f"endpoint URL must be text, not {type(text).__name__}", hint=_URL_HINT)
    shown = _shown(text)
    if not text or any(ch.isspace() or not ch.isprintable() for ch in text):
        raise ConfigError(
            f"invalid endpoint URL {shown}: empty, or contains white space or control characters", hint=_URL_HINT
        )
    parts = _url_parts(text if "://" in text else f"https://{text}", shown)
    host, port = _split_host_port(parts.netloc, shown)
    host = _check_host(host, shown)
    port = _check_port(port, shown)
    netloc = host if port is None else f"{host}:{port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}"


def _url_parts(base: str, shown: str) -> SplitResult:
    """The split URL: http(s) only, no user information, no query string or fragment (even empty)."""
    try:
        parts = urlsplit(base)
    except ValueError as err:
        raise ConfigError(f"invalid endpoint URL {shown}: {err}", hint=_URL_HINT) from None
    if parts.scheme.lower() not in ("https", "http"):
        raise ConfigError(f"invalid endpoint URL {shown}: scheme {parts.scheme!r} is not http or https", hint=_URL_HINT)
    if "@" in parts.netloc:
        raise ConfigError(f"invalid endpoint URL {shown}: user information is not allowed", hint=_URL_HINT)
    if parts.query or parts.fragment or base.endswith(("?", "#")):
        raise ConfigError(f"invalid endpoint URL {shown}: a query string or fragment is not allowed", hint=_URL_HINT)
    return parts


def _check_port(port: str | None, shown: str) -> str | None:
    """An ASCII decimal port in 1-65535, written without leading zeros; None stays None (the scheme's)."""
    if port is None:
        return None
    if not port.isdigit() or not port.isascii():
        raise ConfigError(f"invalid endpoint URL {shown}: port {port!r} is not a number", hint=_URL_HINT)
    if not 1 <= int(port) <= 65535:
        raise ConfigError(f"invalid endpoint URL {shown}: port {int(port)} is outside 1-65535", hint=_URL_HINT)
    return str(int(port))


def _split_host_port(netloc: str, shown: str) -> tuple[str, str | None]:
    if not netloc:
        raise ConfigError(f"invalid endpoint URL {shown}: no host", hint=_URL_HINT)
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise ConfigError(f"invalid endpoint URL {shown}: unclosed '[' in the host", hint=_URL_HINT)
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ConfigError(f"invalid endpoint URL {shown}: text after the IPv6 address", hint=_URL_HINT)
        port = rest[1:] if rest else None
    else:
        if netloc.count(":") > 1:
            raise ConfigError(
                f"invalid endpoint URL {shown}: an IPv6 address must be in brackets, e.g. https://[::1]:8443",
                hint=_URL_HINT,
            )
        host, sep, port_text = netloc.partition(":")
        port = port_text if sep else None
    if port == "":
        raise ConfigError(f"invalid endpoint URL {shown}: empty port after ':'", hint=_URL_HINT)
    return host, port


def _check_host(host: str, shown: str) -> str:
    """The host as it goes on the wire: an IPv6 literal in brackets, or an ASCII (punycode) name.

    Returning the ASCII form matters: urllib3 re-encodes non-ASCII names with stricter IDNA
    rules than Python's codec and raises ``LocationParseError`` (an internal error) on some.
    """
    if not host:
        raise ConfigError(f"invalid endpoint URL {shown}: no host", hint=_URL_HINT)
    if host.startswith("["):
        import ipaddress

        try:
            ipaddress.IPv6Address(host[1:-1].split("%", 1)[0])
        except ValueError:
            raise ConfigError(f"invalid endpoint URL {shown}: {host} is not an IPv6 address", hint=_URL_HINT) from None
        return host
    ascii_host = ascii_name(host)
    if ascii_host is None:
        raise ConfigError(f"invalid endpoint URL {shown}: host {clean(host, 80)!r} is not a valid name", hint=_URL_HINT)
    return ascii_host


def ascii_name(host: str) -> str | None:
    """``host`` (a DNS name, possibly non-ASCII) in the ASCII form that goes on the wire; None if it is no name.

    For every host rasign connects to (endpoints, proxies): the socket layer's own IDNA
    encoding raises ``UnicodeError`` on a label over 63 characters, which is no error a
    user can read.
    """
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = ascii_host.rstrip(".").split(".")
    if len(ascii_host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return None
    return ascii_host


def seconds(
    text: str | float | int, what: str = "timeout", *, maximum: float = TIMEOUT_MAX, allow_zero: bool = False
) -> float:
    """A finite number of seconds, > 0 (or >= 0 with ``allow_zero``) and at most ``maximum``."""
    if isinstance(text, bool):
        raise ConfigError(f"{what} must be a number of seconds, not {text!r}")
    try:
        value = float(text.strip() if isinstance(text, str) else text)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{what} {_shown(text)} is not a number of seconds", hint="pass e.g. 10 or 2.5") from None
    if not math.isfinite(value):
        raise ConfigError(f"{what} {_shown(text)} is not a finite number", hint="pass a number of seconds, e.g. 10")
    if value < 0 or (value == 0 and not allow_zero):
        low = "0 or more" if allow_zero else "more than 0"
        raise ConfigError(f"{what} {_shown(text)} must be {low} seconds", hint=f"pass {low} seconds")
    if value > maximum:
        raise ConfigError(f"{what} {_shown(text)} is more than {maximum:g} seconds", hint=f"pass at most {maximum:g}")
    return value


def timeout(text: str | float | int) -> float:
    """A connect or read timeout: finite, > 0, at most :data:`TIMEOUT_MAX` seconds."""
    return seconds(text, "timeout")


def interval(text: str | float | int) -> float:
    """A refresh interval or backoff: finite, >= 0, at most a day."""
    return seconds(text, "interval", maximum=86400.0, allow_zero=True)


def whole_number(text: str | int, what: str, low: int, high: int) -> int:
    """An integer in ``low..high`` written in decimal digits."""
    if isinstance(text, bool):
        raise ConfigError(f"{what} must be a whole number, not {text!r}")
    if isinstance(text, int):
        value = text
    else:
        stripped = text.strip() if isinstance(text, str) else ""
        if not re.fullmatch(r"[+-]?[0-9]{1,12}", stripped):
            raise ConfigError(
                f"{what} {_shown(text)} is not a whole number", hint=f"pass a number from {low} to {high}"
            )
        value = int(stripped, 10)
    if not low <= value <= high:
        raise ConfigError(f"{what} {value} is outside {low}-{high}", hint=f"pass a number from {low} to {high}")
    return value


def session_duration(text: str | int) -> int:
    """Session duration in seconds, 900-43200 (the service's limits)."""
    from rasign.arns import DURATION_MAX, DURATION_MIN

    try:
        return whole_number(text, "session duration", DURATION_MIN, DURATION_MAX)
    except ConfigError as err:
        raise ConfigError(
            err.message, hint="pass --session-duration between 900 and 43200 (the profile's limit also applies)"
        ) from None


def max_attempts(text: str | int) -> int:
    """Attempts per CreateSession, 1-:data:`MAX_ATTEMPTS_MAX`."""
    return whole_number(text, "max attempts", 1, MAX_ATTEMPTS_MAX)


def region(text: str) -> str:
    """An AWS region name (``us-east-1``; the ``fips-`` / ``-fips`` forms are accepted)."""
    if not isinstance(text, str) or not (2 <= len(text) <= 64) or not _REGION.fullmatch(text):
        raise ConfigError(
            f"invalid region {_shown(text)}",
            hint="use a region name such as us-east-1 (lower-case letters, digits and dashes)",
        )
    return text


def partition(name: str, arn: str = "") -> str:
    """A known AWS partition name; an unknown one never reaches the network."""
    if name not in PARTITION_NAMES:
        where = f" in {_shown(arn)}" if arn else ""
        raise ConfigError(
            f"unknown AWS partition {_shown(name)}{where}",
            hint="ARNs start with arn:aws:, arn:aws-cn: or arn:aws-us-gov: (or an ISO partition)",
        )
    return name


def printable(text: str, what: str, limit: int = 2048) -> str:
    """Refuse control characters, white space and over-long text in an identifier (ARN, name)."""
    if not isinstance(text, str):
        raise ConfigError(f"{what} must be text, not {type(text).__name__}")
    if len(text) > limit:
        raise ConfigError(f"{what} is {len(text)} characters long; at most {limit} are allowed")
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise ConfigError(
            f"{what} {_shown(text)} contains white space or control characters",
            hint="copy the value again without line breaks or spaces",
        )
    return text


_TYPE_CHECKS: dict[str, Callable[[object], bool]] = {
    "str": lambda v: isinstance(v, str),
    "str | None": lambda v: v is None or isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "dict[str, str]": lambda v: (
        isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())
    ),
}


def option_types(options: object) -> None:
    """Refuse an options dataclass whose fields do not have their declared types.

    The Python API takes ``SignerOptions``/``SessionOptions`` from callers, so a timeout of
    ``"5"`` or a duration of ``3600.0`` would otherwise surface deep inside ``requests`` as
    an internal error. Driven by the field annotations, so a new field is covered too.
    """
    import dataclasses

    for item in dataclasses.fields(options):  # type: ignore[arg-type]
        check = _TYPE_CHECKS.get(str(item.type))
        value = getattr(options, item.name)
        if check is not None and not check(value):
            shown = "" if item.metadata.get("cache") == "secret" else f" {_shown(value)}"  # never echo a password
            raise ConfigError(
                f"option {item.name} must be {item.type}, not {type(value).__name__}{shown}",
                hint=f"pass {item.name} as {item.type}",
            )


_TEXT_FIELDS = (
    "tpm_tcti",
    "tpm_pcrs",
    "cert_selector",
    "system_store_name",
    "pkcs11_pin_env",
    "pkcs11_context_pin_env",
)
"""Signer options that are text for a library (TCTI, PCR selection, selector, variable names),
not file paths: bytes that are not UTF-8 cannot mean anything there."""


def signer_text(options: object) -> None:
    """Refuse non-UTF-8 bytes (surrogates from argv or environment) where a library wants text.

    Paths may hold any bytes on POSIX and stay untouched; ``pkcs11:`` and ``handle:`` specs and
    the fields in :data:`_TEXT_FIELDS` are encoded as UTF-8 by the backends, which raised
    ``UnicodeEncodeError`` (an internal error) instead.
    """
    checks: list[tuple[str, object]] = [(name, getattr(options, name, None)) for name in _TEXT_FIELDS]
    for name in ("certificate", "private_key", "cert_store"):
        value = getattr(options, name, None)
        if isinstance(value, str) and value.startswith(("pkcs11:", "handle:")):
            checks.append((name, value))
    extra = getattr(options, "extra", None) or {}
    checks += [("backend_option", f"{key}={value}") for key, value in extra.items()]
    for name, value in checks:
        if isinstance(value, str) and any("\udc80" <= char <= "\udcff" for char in value):
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag} contains bytes that are not UTF-8", hint=f"give {flag} as UTF-8 text")
