"""network_errors.cause: the plain reason at the bottom of requests' exception chains.

The chains are built from the real requests/urllib3 exception classes the way urllib3 raises
them; DNS failures cannot be produced for real here (tests talk to loopback only).
"""

from __future__ import annotations

import socket
import ssl
from http.client import RemoteDisconnected

import pytest
import requests
import urllib3.exceptions as u3

from rasign.network_errors import cause


def _wrapped(inner: BaseException) -> requests.exceptions.RequestException:
    retry = u3.MaxRetryError(None, "/sessions?profileArn=arn%3Asecret-looking", reason=inner)
    outer = requests.exceptions.ConnectionError(retry)
    outer.__cause__ = retry
    return outer


def _name_error() -> BaseException:
    error = u3.NameResolutionError("nonexistent.invalid", None, socket.gaierror(-2, "Name or service not known"))
    error.__cause__ = socket.gaierror(-2, "Name or service not known")
    return error


def _verify_error() -> BaseException:
    error = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error.verify_message = "self-signed certificate in certificate chain"
    return u3.SSLError(error)


@pytest.mark.parametrize(
    "inner, expected",
    [
        (_name_error(), "name does not resolve"),
        (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
        (_verify_error(), "TLS certificate verify failed: self-signed certificate in certificate chain"),
        (u3.ConnectTimeoutError(None, "timed out"), "timed out after 2 s while connecting"),
        (u3.ReadTimeoutError(None, "/", "read timed out"), "timed out after 7 s waiting for the answer"),
        (ConnectionResetError(104, "Connection reset by peer"), "connection reset by the server"),
        (OSError(101, "Network is unreachable"), "network unreachable"),
        (
            u3.ProtocolError("Connection aborted.", RemoteDisconnected("closed")),
            "the server closed the connection without answering",
        ),
    ],
)
def test_cause_names_the_reason(inner, expected):
    text = cause(_wrapped(inner), connect_timeout=2, read_timeout=7)
    assert text == expected or text.startswith(expected)
    assert "profileArn" not in text and "Max retries" not in text
