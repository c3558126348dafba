"""Say in plain words why a request to the endpoint failed.

``requests`` reports a refused connection as ``HTTPSConnectionPool(host=..., port=...): Max
retries exceeded with url: /sessions?profileArn=...&roleArn=... (Caused by
NewConnectionError(...))``: a dump that buries the cause, repeats the whole query string and
was cut before the useful part. :func:`cause` walks the exception chain (``__cause__``,
``__context__``, urllib3's ``reason``) to the socket or TLS error at the bottom and names it:
"connection refused", "name does not resolve", "TLS certificate verify failed: ...",
"timed out after 10 s".
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator

from rasign.textsafe import clean


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
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        pending.extend(item for item in linked if isinstance(item, BaseException))


def _is_timeout(item: BaseException) -> bool:
    name = type(item).__name__
    return isinstance(item, (TimeoutError, socket.timeout)) or name in (
        "ConnectTimeout",
        "ReadTimeout",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "Timeout",
    )


def cause(err: BaseException, *, connect_timeout: float, read_timeout: float) -> str:
    """A short, plain description of the lowest-level reason ``err`` happened."""
    chain = list(_chain(err))
    for item in chain:
        if isinstance(item, ssl.SSLCertVerificationError):
            detail = item.verify_message or item.reason or "certificate not trusted"
            return f"TLS certificate verify failed: {clean(detail, 200)}"
    if any(type(item).__name__ == "ProxyError" for item in chain):
        return "the proxy could not be reached or refused the connection (check HTTPS_PROXY and NO_PROXY)"
    for item in chain:
        if isinstance(item, socket.gaierror):
            return "name does not resolve"
        if type(item).__name__ == "NameResolutionError":
            return "name does not resolve"
    for item in chain:
        if isinstance(item, ConnectionRefusedError):
            return "connection refused"
    connect_names = ("ConnectTimeout", "ConnectTimeoutError", "NewConnectionError")
    connecting = any(type(item).__name__ in connect_names for item in chain)
    for item in chain:
        if _is_timeout(item) and not (isinstance(item, OSError) and item.errno not in (None, errno.ETIMEDOUT)):
            if connecting or type(item).__name__ in ("ConnectTimeout", "ConnectTimeoutError"):
                return f"timed out after {connect_timeout:g} s while connecting"
            return f"timed out after {read_timeout:g} s waiting for the answer"
    for item in chain:
        if isinstance(item, ssl.SSLError):
            return f"TLS handshake failed: {clean(item.reason or item.strerror or item, 200)}"
    for item in chain:  # RemoteDisconnected is a ConnectionResetError: test it first
        if isinstance(item, (ConnectionAbortedError, BrokenPipeError)) or type(item).__name__ == "RemoteDisconnected":
            return "the server closed the connection without answering"
        if isinstance(item, ConnectionResetError):
            return "connection reset by the server"
    for item in chain:
        if isinstance(item, OSError) and item.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "network unreachable" if item.errno == errno.ENETUNREACH else "host unreachable"
        if isinstance(item, OSError) and item.errno and item.strerror:
            return clean(item.strerror.lower(), 120)
    for item in chain:
        if type(item).__name__ in ("ProtocolError", "ChunkedEncodingError", "IncompleteRead", "InvalidChunkLength"):
            return "the server's answer broke off or was not valid HTTP"
    return f"could not talk to the endpoint ({type(chain[-1]).__name__})"
