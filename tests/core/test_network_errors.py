"""network_errors.cause: the plain reason at the bottom of the transport's exception chains.

The chains are built the way rasign.transport raises them (its own error, the socket or TLS
error as ``__cause__``); DNS failures cannot be produced for real here (tests talk to
loopback only). tests/transport produces the others for real against loopback servers.
"""

from __future__ import annotations

import socket
import ssl

import pytest

from rasign import transport
from rasign.network_errors import cause


def _raised(outer: BaseException, inner: BaseException) -> BaseException:
    """``outer`` as the transport raises it: ``raise outer from inner``."""
    outer.__cause__ = inner
    return outer


def _verify_error() -> BaseException:
    error = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error.verify_message = "self-signed certificate in certificate chain"
    return _raised(transport.TlsFailed("certificate verify failed"), error)


@pytest.mark.parametrize(
    "error, expected",
    [
        (
            _raised(transport.ConnectFailed("could not connect"), socket.gaierror(-2, "Name or service not known")),
            "name does not resolve",
        ),
        (
            _raised(transport.ConnectFailed("could not connect"), ConnectionRefusedError(111, "Connection refused")),
            "connection refused",
        ),
        (_verify_error(), "TLS certificate verify failed: self-signed certificate in certificate chain"),
        (
            _raised(transport.Timeout("no connection", connecting=True), TimeoutError()),
            "timed out after 2 s while connecting",
        ),
        (
            _raised(transport.Timeout("no answer", connecting=False), TimeoutError()),
            "timed out after 7 s waiting for the answer",
        ),
        (ConnectionResetError(104, "Connection reset by peer"), "connection reset by the server"),
        (_raised(transport.ConnectFailed("x"), OSError(101, "Network is unreachable")), "network unreachable"),
        (transport.NoAnswer("closed"), "the server closed the connection without answering"),
        (transport.BrokeOff("closed"), "the server's answer broke off"),
        (transport.BadAnswer("the status line is not HTTP/1.x"), "the server's answer was not valid HTTP"),
        (
            _raised(
                transport.ConnectFailed("could not connect to the proxy", via_proxy=True), ConnectionRefusedError()
            ),
            "the proxy could not be reached",
        ),
        (
            transport.ProxyRefused(407, "Proxy Authentication Required"),
            "the proxy answered the tunnel request with HTTP 407",
        ),
    ],
)
def test_cause_names_the_reason(error, expected):
    text = cause(error, connect_timeout=2, read_timeout=7)
    assert text.startswith(expected)
    assert "profileArn" not in text and "Traceback" not in text


def test_an_unknown_error_is_named_by_its_class_not_dumped():
    assert (
        cause(ValueError("x" * 500), connect_timeout=1, read_timeout=1) == "could not talk to the endpoint (ValueError)"
    )
