"""HTTP routing for ``rasign serve``: IMDSv2, ECS container credentials and health.

IMDSv2 (what SDKs use through ``AWS_EC2_METADATA_SERVICE_ENDPOINT``):

* ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds`` (1..21600,
  default 21600) returns a token.
* ``GET /latest/meta-data/iam/security-credentials`` (with or without the trailing
  slash) returns the role name; ``.../<role>`` (likewise) returns the credentials JSON.
  Both slash forms answer directly: some SDKs add the slash and some refuse redirects.
* Every GET needs ``X-aws-ec2-metadata-token``. Any request carrying
  ``X-Forwarded-For`` is refused: it came through a proxy, and IMDSv2 exists to stop
  proxies (SSRF) from reaching credentials.

ECS (``AWS_CONTAINER_CREDENTIALS_FULL_URI`` + ``AWS_CONTAINER_AUTHORIZATION_TOKEN``):
``GET <ecs path>`` with ``Authorization: <token>``.

``GET /healthz`` reports freshness (state, expiration, last error) and never the
credentials; 200 while valid credentials exist, 503 otherwise.

A peer that is not on loopback (only possible with ``--allow-non-loopback``) must send
the ``Authorization`` token on every request, IMDS included.

Once no valid credentials remain the credential routes answer 500 with the reason --
never empty credentials labelled ``Success`` as the Go helper did.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from rasign.serve.tokens import TokenStore, parse_ttl
from rasign.serve.view import CredentialView

log = logging.getLogger("rasign.serve")

TOKEN_PATH = "/latest/api/token"
ROLE_PATH = "/latest/meta-data/iam/security-credentials"
HEALTH_PATH = "/healthz"
DEFAULT_ECS_PATH = "/v1/credentials"

TTL_HEADER = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"


@dataclass
class ServeContext:
    """Everything a request handler needs; shared by all listeners."""

    role_name: str
    view: CredentialView
    tokens: TokenStore
    status: Callable[[], dict[str, Any]]
    """Secret-free refresh status for /healthz."""
    auth_token: str | None = None
    """Required as ``Authorization`` for ECS and for every non-loopback request."""
    ecs_path: str | None = None
    """Path of the ECS endpoint, or None when ECS mode is off."""
    allow_non_loopback: bool = False


def is_loopback(address: Any) -> bool:
    """True for 127/8, ::1, IPv4-mapped loopback and unix-socket peers."""
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX: the peer passed the socket file's permissions
    host = str(address[0])
    if not host:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


class CredentialRequestHandler(BaseHTTPRequestHandler):
    """One instance per request; keep-alive is supported (HTTP/1.1)."""

    protocol_version = "HTTP/1.1"
    server_version = "rasign"
    sys_version = ""
    timeout = 60
    """Idle keep-alive connections are closed after this many seconds (no thread hoarding)."""
    context: ServeContext  # set on a subclass by make_handler()

    # -- plumbing

    def address_string(self) -> str:
        address = self.client_address
        if isinstance(address, tuple) and address:
            return str(address[0])
        return "unix"

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines hold paths only (tokens travel in headers), but keep them at debug.
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s", self.address_string(), format % args)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s \"%s %s\" %s", self.address_string(), self.command, self._path_only(), code)

    def _path_only(self) -> str:
        return self.path.split("?", 1)[0].split("#", 1)[0]

    def _send(self, status: int, body: bytes = b"", content_type: str = "text/plain; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if headers:
            for name, value in headers.items():
                self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _text(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, text.encode("utf-8"), headers=headers)

    # -- entry points

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        # Drain a request body so keep-alive stays in sync.
        length = self.headers.get("Content-Length")
        if length:
            try:
                size = int(length)
            except ValueError:
                size = -1
            if not 0 <= size <= 1 << 16:
                self.close_connection = True
                self._text(400, "invalid or too large request body\n")
                return
            self.rfile.read(size)
        ctx = self.context
        if self.headers.get("X-Forwarded-For"):
            self._text(400, "unable to process requests with X-Forwarded-For header")
            return
        if not is_loopback(self.client_address):
            if not ctx.allow_non_loopback:
                self._text(403, "requests are only accepted from loopback\n")
                return
            if not self._authorized():
                self._text(401, "missing or invalid Authorization token\n")
                return
        path = self._path_only()
        if path == TOKEN_PATH or path.startswith(TOKEN_PATH + "/"):
            self._token(method)
        elif path == ROLE_PATH or path == ROLE_PATH + "/":
            self._imds_get(method, self._role_name)
        elif path.startswith(ROLE_PATH + "/"):
            role = path[len(ROLE_PATH) + 1 :].split("/", 1)[0]
            if role != ctx.role_name:
                self._imds_get(method, self._not_found)
            else:
                self._imds_get(method, self._imds_credentials)
        elif ctx.ecs_path and (path == ctx.ecs_path or path == ctx.ecs_path.rstrip("/") + "/"):
            self._ecs(method)
        elif path == HEALTH_PATH or path == HEALTH_PATH + "/":
            self._health(method)
        else:
            self._not_found(0.0)

    # -- IMDS

    def _token(self, method: str) -> None:
        if method != "PUT":
            self._send(405)
            return
        raw_ttl = self.headers.get(TTL_HEADER)
        ttl = parse_ttl(raw_ttl)
        if ttl is None:
            self._text(400, "invalid token TTL")
            return
        token = self.context.tokens.issue(ttl)
        self._text(200, token, headers={TTL_HEADER: raw_ttl.strip() if raw_ttl else str(ttl)})

    def _imds_get(self, method: str, respond: Callable[[float], None]) -> None:
        if method not in ("GET", "HEAD"):
            self._send(405)
            return
        token = self.headers.get(TOKEN_HEADER)
        if not token:
            self._text(401, "no token provided")
            return
        remaining = self.context.tokens.remaining(token)
        if remaining is None:
            self._text(401, "invalid token provided")
            return
        respond(remaining)

    def _role_name(self, remaining: float) -> None:
        self._text(200, self.context.role_name, headers={TTL_HEADER: str(int(remaining))})

    def _not_found(self, remaining: float) -> None:
        self._text(404, "404 page not found\n")

    def _imds_credentials(self, remaining: float) -> None:
        current = self.context.view.snapshot()
        if current is None:
            self._no_credentials()
            return
        self._send(200, current.imds_body, headers={TTL_HEADER: str(int(remaining))})

    def _no_credentials(self) -> None:
        status = self.context.status()
        reason = status.get("last_error") or "no valid credentials yet"
        self._text(500, f"no valid credentials available: {reason}\n")

    # -- ECS

    def _authorized(self) -> bool:
        expected = self.context.auth_token
        given = self.headers.get("Authorization")
        if not expected or not given:
            return False
        return hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected.encode("utf-8"))

    def _ecs(self, method: str) -> None:
        if method not in ("GET", "HEAD"):
            self._send(405)
            return
        if not self._authorized():
            self._send(401, json.dumps({"code": "Unauthorized", "message": "missing or invalid Authorization token"}).encode(),
                       content_type="application/json")
            return
        current = self.context.view.snapshot()
        if current is None:
            status = self.context.status()
            body = json.dumps({"code": "NoCredentials",
                               "message": status.get("last_error") or "no valid credentials yet"})
            self._send(500, body.encode("utf-8"), content_type="application/json")
            return
        self._send(200, current.ecs_body, content_type="application/json")

    # -- health

    def _health(self, method: str) -> None:
        if method not in ("GET", "HEAD"):
            self._send(405)
            return
        status = dict(self.context.status())
        valid = self.context.view.snapshot() is not None
        status["healthy"] = valid
        self._send(200 if valid else 503, (json.dumps(status) + "\n").encode("utf-8"),
                   content_type="application/json")


def make_handler(context: ServeContext) -> type[CredentialRequestHandler]:
    """A handler class bound to ``context`` (http.server instantiates the class per request)."""
    return type("BoundCredentialRequestHandler", (CredentialRequestHandler,), {"context": context})
