"""Say in plain words why a request to the endpoint failed.

:mod:`rasign.transport` raises its own exceptions with the socket or TLS error that caused
them as ``__cause__``. :func:`cause` walks that chain (``__cause__``, ``__context__``,
``args``) and names the lowest-level reason it recognises: "connection refused", "name does
not resolve", "TLS certificate verify failed: ...", "timed out after 10 s while
connecting". Never a URL or query string: they are long, say nothing, and can hold secrets.
The rules are tried in order of how specific they are, each over the whole chain; what
went wrong with a proxy comes first, so it is never mistaken for the endpoint's fault.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Callable, Iterator

from rasign import transport
from rasign.textsafe import clean

_PROXY_UNREACHABLE = "the proxy could not be reached or refused the connection"


def _chain(err: BaseException) -> Iterator[BaseException]:
    """Every exception reachable from ``err``, outermost first, each once."""
    seen: set[int] = set()
    pending = [err]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, *current.args]
        pending.extend(item for item in linked if isinstance(item, BaseException))


def _verify(item: BaseException) -> str | None:
    if isinstance(item, ssl.SSLCertVerificationError):
        return f"TLS certificate verify failed: {clean(item.verify_message or item.reason or 'not trusted', 200)}"
    return None


def _proxy(item: BaseException) -> str | None:
    if isinstance(item, (transport.ProxyRefused, transport.ProxyBroken)):
        return clean(str(item), 200)
    if isinstance(item, transport.ProxyTlsFailed):
        return f"TLS with the proxy failed: {clean(str(item), 200)}"
    if isinstance(item, transport.ConnectFailed) and item.via_proxy:
        return _PROXY_UNREACHABLE
    return None


def _resolve(item: BaseException) -> str | None:
    return "name does not resolve" if isinstance(item, socket.gaierror) else None


def _refused(item: BaseException) -> str | None:
    return "connection refused" if isinstance(item, ConnectionRefusedError) else None


def _timeout(timeouts: tuple[float, float]) -> Callable[[BaseException], str | None]:
    def rule(item: BaseException) -> str | None:
        if isinstance(item, transport.Timeout):
            connecting = item.connecting
        elif isinstance(item, (TimeoutError, socket.timeout)) and getattr(item, "errno", None) in (
            None,
            errno.ETIMEDOUT,
        ):
            connecting = False
        else:
            return None
        if connecting:
            return f"timed out after {timeouts[0]:g} s while connecting"
        return f"timed out after {timeouts[1]:g} s waiting for the answer"

    return rule


def _tls(item: BaseException) -> str | None:
    if isinstance(item, ssl.SSLError):
        return f"TLS handshake failed: {clean(item.reason or item.strerror or item, 200)}"
    if isinstance(item, transport.TlsFailed):
        return clean(str(item), 200)
    return None


def _http(item: BaseException) -> str | None:
    if isinstance(item, transport.NoAnswer):
        return "the server closed the connection without answering"
    if isinstance(item, transport.BrokeOff):
        return "the server's answer broke off"
    if isinstance(item, transport.BadAnswer):
        return f"the server's answer was not valid HTTP: {clean(str(item), 160)}"
    return None


def _dropped(item: BaseException) -> str | None:
    if isinstance(item, (ConnectionAbortedError, BrokenPipeError)):
        return "the server closed the connection without answering"
    if isinstance(item, ConnectionResetError):
        return "connection reset by the server"
    return None


def _os(item: BaseException) -> str | None:
    if not isinstance(item, OSError) or not item.errno:
        return None
    if item.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "network unreachable" if item.errno == errno.ENETUNREACH else "host unreachable"
    return clean(item.strerror.lower(), 120) if item.strerror else None


def through_proxy(err: BaseException) -> bool:
    """Whether ``err`` happened on the way through a proxy (so the fix is in HTTPS_PROXY/NO_PROXY)."""
    return any(getattr(item, "via_proxy", False) for item in _chain(err))


def cause(err: BaseException, *, connect_timeout: float, read_timeout: float) -> str:
    """A short, plain description of the lowest-level reason ``err`` happened."""
    chain = list(_chain(err))
    rules = (_proxy, _verify, _resolve, _refused, _timeout((connect_timeout, read_timeout)), _tls, _http, _dropped, _os)
    for rule in rules:
        for item in chain:
            text = rule(item)
            if text:
                return text
    return f"could not talk to the endpoint ({type(chain[-1]).__name__})"
