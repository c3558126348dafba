"""HTTP routing for ``rasign serve``: IMDSv2, ECS container credentials and health.

IMDSv2 (what SDKs use through ``AWS_EC2_METADATA_SERVICE_ENDPOINT``):

* ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds`` (1..21600,
  default 21600) returns a token.
* ``GET /latest/meta-data/iam/security-credentials`` (with or without the trailing
  slash) returns the role name; ``.../<role>`` (likewise) returns the credentials JSON.
  Both slash forms answer directly: some SDKs add the slash and some refuse redirects.
* Every GET needs ``X-aws-ec2-metadata-token``. Any request carrying
  ``X-Forwarded-For`` (or RFC 7239 ``Forwarded``) is refused: it came through a proxy, and IMDSv2 exists to stop
  proxies (SSRF) from reaching credentials.

ECS (``AWS_CONTAINER_CREDENTIALS_FULL_URI`` + ``AWS_CONTAINER_AUTHORIZATION_TOKEN``):
``GET <ecs path>`` with ``Authorization: <token>``. With ``--ecs`` alone the IMDS paths
are not served at all: they need no auth token, so serving them would bypass it.

``GET /healthz`` reports freshness (state, expiration, last error) and never the
credentials; 200 while valid credentials exist, 503 otherwise.

Before any of that, every request over TCP must carry a ``Host`` naming the listener
(``127.0.0.1:PORT``, ``[::1]:PORT``, ``localhost:PORT``, the configured address). A web
page on a DNS-rebinding domain is same-origin with ``http://127.0.0.1:PORT`` as far as
the browser knows, and may PUT the token header without a CORS preflight, but its
requests still say ``Host: evil.example:PORT``; they get 400. aws-vault closed the same
hole the same way.

A peer that is not on loopback (only possible with ``--allow-non-loopback``) must send
the ``Authorization`` token on every request, IMDS included.

Once no valid credentials remain the credential routes answer 500 with the reason --
never empty credentials labelled ``Success`` as the Go helper did.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rasign.serve.http11 import Request, render
from rasign.serve.loop import Connection
from rasign.serve.tokens import TokenSigner, parse_ttl
from rasign.serve.view import CredentialView
from rasign.textsafe import clean

log = logging.getLogger("rasign.serve")

TOKEN_PATH = "/latest/api/token"
ROLE_PATH = "/latest/meta-data/iam/security-credentials"
HEALTH_PATH = "/healthz"

TTL_HEADER = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
TOKEN_HEADER = "x-aws-ec2-metadata-token"
TTL_HEADER_KEY = TTL_HEADER.lower()

JSON = "application/json"
_READ_METHODS = ("GET", "HEAD")


class RoleSlot:
    """One more role served beside the default one (``serve --also-role``)."""

    def __init__(self, view: CredentialView, status: Callable[[], dict[str, Any]], arn: str = "") -> None:
        self.view = view
        self.status = status
        self.arn = arn


@dataclass
class ServeContext:
    """Everything the router needs; shared by all listeners."""

    role_name: str
    view: CredentialView
    tokens: TokenSigner
    status: Callable[[], dict[str, Any]]
    """Secret-free refresh status for /healthz."""
    auth_token: str | None = None
    """Required as ``Authorization`` for ECS and for every non-loopback request."""
    ecs_path: str | None = None
    """Path of the ECS endpoint, or None when ECS mode is off."""
    imds: bool = True
    """Serve the IMDS paths (off with ``--ecs`` unless ``--imds`` is given too)."""
    allow_non_loopback: bool = False
    health: bool = True
    """Serve the unauthenticated health path (off for ``exec --server``'s private endpoint)."""
    roles: dict[str, RoleSlot] = field(default_factory=dict)
    """Roles served beside ``role_name``: by name on the IMDS path, at ECS_PATH/NAME for ECS."""


class Router:
    """Maps one parsed request to its response bytes (the event loop's responder)."""

    def __init__(self, context: ServeContext) -> None:
        self.context = context
        ecs = context.ecs_path
        self._ecs_paths = {ecs, ecs.rstrip("/") + "/"} if ecs else set()
        self._role_ecs_paths: dict[str, RoleSlot] = {}
        if ecs:
            for name, slot in context.roles.items():
                path = ecs.rstrip("/") + "/" + name
                self._role_ecs_paths[path] = self._role_ecs_paths[path + "/"] = slot

    def __call__(self, request: Request, conn: Connection) -> tuple[bytes, bool]:
        status, data, close = self._route(request, conn)
        if log.isEnabledFor(logging.DEBUG):
            log.debug('%s "%s %s" %s', conn.describe(), request.method, clean(request.path, 200), status)
        return data, close

    # -- responses

    @staticmethod
    def _text(
        request: Request, status: int, text: str, headers: dict[str, str] | None = None, close: bool = False
    ) -> tuple[int, bytes, bool]:
        return (
            status,
            render(status, text.encode("utf-8"), headers=headers, close=close, head=request.method == "HEAD"),
            close,
        )

    @staticmethod
    def _json(request: Request, status: int, body: bytes) -> tuple[int, bytes, bool]:
        return status, render(status, body, JSON, head=request.method == "HEAD"), False

    # -- routing

    def _route(self, request: Request, conn: Connection) -> tuple[int, bytes, bool]:
        refused = self._refusal(request, conn)
        if refused is not None:
            return refused
        path = request.path
        if self.context.imds:
            answer = self._imds_route(request, conn, path)
            if answer is not None:
                return answer
        if path in self._ecs_paths:
            return self._ecs(request)
        slot = self._role_ecs_paths.get(path)
        if slot is not None:
            return self._ecs(request, slot)
        if self.context.health and (path == HEALTH_PATH or path == HEALTH_PATH + "/"):
            return self._health(request)
        return self._not_found(request, 0.0)

    def _refusal(self, request: Request, conn: Connection) -> tuple[int, bytes, bool] | None:
        """The answer to a request that must not reach any route (bad Host, proxied, not allowed), else None."""
        bad_host = self._host_refusal(request, conn)
        if bad_host is not None:
            return bad_host
        if "x-forwarded-for" in request.headers:
            return self._text(request, 400, "unable to process requests with X-Forwarded-For header", close=True)
        if "forwarded" in request.headers:  # RFC 7239's spelling of the same proxy hop
            return self._text(request, 400, "unable to process requests with Forwarded header", close=True)
        if not conn.loopback:
            if not self.context.allow_non_loopback:
                return self._text(request, 403, "requests are only accepted from loopback\n", close=True)
            if not self._authorized(request):
                return self._text(request, 401, "missing or invalid Authorization token\n")
        return None

    def _host_refusal(self, request: Request, conn: Connection) -> tuple[int, bytes, bool] | None:
        """400 unless the request names this listener in exactly one Host header (DNS rebinding)."""
        host = request.headers.get("host")
        if "host" in request.repeated:
            return self._text(request, 400, "more than one Host header\n", close=True)
        if host is None:
            if request.version >= (1, 1) or not conn.listener.is_unix:
                return self._text(request, 400, "missing Host header\n", close=True)
            return None
        if not conn.listener.host_allowed(host, conn.local_authority):
            log.debug("%s: refused Host %s", conn.describe(), clean(host, 100))
            return self._text(
                request,
                400,
                "invalid Host header: this endpoint only answers requests addressed"
                " to it by a loopback name (e.g. 127.0.0.1:PORT or localhost:PORT)\n",
                close=True,
            )
        return None

    def _imds_route(self, request: Request, conn: Connection, path: str) -> tuple[int, bytes, bool] | None:
        """The answer on an IMDS path, or None when ``path`` is not one."""
        if path == TOKEN_PATH or path.startswith(TOKEN_PATH + "/"):
            return self._token(request)
        if path == ROLE_PATH or path == ROLE_PATH + "/":
            return self._imds_get(request, conn, self._role_name)
        if not path.startswith(ROLE_PATH + "/"):
            return None
        role = path[len(ROLE_PATH) + 1 :].split("/", 1)[0]
        if role == self.context.role_name:
            return self._imds_get(request, conn, self._imds_credentials)
        slot = self.context.roles.get(role)
        if slot is not None:
            return self._imds_get(request, conn, lambda req, left: self._imds_credentials(req, left, slot))
        return self._imds_get(request, conn, self._not_found)

    # -- IMDS

    def _token(self, request: Request) -> tuple[int, bytes, bool]:
        if request.method != "PUT":
            return self._text(request, 405, "")
        raw_ttl = request.headers.get(TTL_HEADER_KEY)
        ttl = parse_ttl(raw_ttl)
        if ttl is None:
            return self._text(request, 400, "invalid token TTL")
        value = self.context.tokens.issue(ttl)
        return self._text(request, 200, value, headers={TTL_HEADER: raw_ttl.strip() if raw_ttl else str(ttl)})

    def _imds_get(
        self, request: Request, conn: Connection, respond: Callable[[Request, float], tuple[int, bytes, bool]]
    ) -> tuple[int, bytes, bool]:
        if request.method not in _READ_METHODS:
            return self._text(request, 405, "")
        value = request.headers.get(TOKEN_HEADER)
        if not value:
            return self._text(request, 401, "no token provided")
        # One HMAC per connection and token: keep-alive clients send the same token every time.
        cached = conn.token_cache
        expiry: float | None
        if cached is not None and cached[0] == value:
            expiry = cached[1]
        else:
            expiry = self.context.tokens.expiry(value)
            if expiry is not None:
                conn.token_cache = (value, expiry)
        remaining = None if expiry is None else expiry - self.context.tokens.now()
        if remaining is None or remaining <= 0:
            return self._text(request, 401, "invalid token provided")
        return respond(request, remaining)

    def _role_name(self, request: Request, remaining: float) -> tuple[int, bytes, bool]:
        return self._text(request, 200, self.context.role_name, headers={TTL_HEADER: str(int(remaining))})

    def _not_found(self, request: Request, remaining: float) -> tuple[int, bytes, bool]:
        return self._text(request, 404, "404 page not found\n")

    def _imds_credentials(
        self, request: Request, remaining: float, slot: RoleSlot | None = None
    ) -> tuple[int, bytes, bool]:
        view, status = (slot.view, slot.status) if slot is not None else (self.context.view, self.context.status)
        current = view.snapshot()
        if current is None:
            reason = status().get("last_error") or "no valid credentials yet"
            return self._text(request, 500, f"no valid credentials available: {reason}\n")
        return (
            200,
            render(200, current.imds_body, headers={TTL_HEADER: str(int(remaining))}, head=request.method == "HEAD"),
            False,
        )

    # -- ECS

    def _authorized(self, request: Request) -> bool:
        expected = self.context.auth_token
        given = request.headers.get("authorization")
        if not expected or not given:
            return False
        return hmac.compare_digest(given.strip().encode("latin-1", "replace"), expected.encode("utf-8"))

    def _ecs(self, request: Request, slot: RoleSlot | None = None) -> tuple[int, bytes, bool]:
        if request.method not in _READ_METHODS:
            return self._text(request, 405, "")
        if not self._authorized(request):
            body = json.dumps({"code": "Unauthorized", "message": "missing or invalid Authorization token"})
            return 401, render(401, body.encode(), JSON, head=request.method == "HEAD"), False
        view, status_of = (slot.view, slot.status) if slot is not None else (self.context.view, self.context.status)
        current = view.snapshot()
        if current is None:
            status = status_of()
            reason = status.get("last_error") or "no valid credentials yet"
            body = json.dumps({"code": "NoCredentials", "message": reason})
            return self._json(request, 500, body.encode("utf-8"))
        return self._json(request, 200, current.ecs_body)

    # -- health

    def _health(self, request: Request) -> tuple[int, bytes, bool]:
        if request.method not in _READ_METHODS:
            return self._text(request, 405, "")
        status = dict(self.context.status())
        valid = self.context.view.snapshot() is not None
        if self.context.roles:
            status["role"] = self.context.role_name
            status["roles"] = {}
            for name, slot in self.context.roles.items():
                role_status = dict(slot.status())
                role_status["healthy"] = slot.view.snapshot() is not None
                status["roles"][name] = role_status
                valid = valid and role_status["healthy"]
        status["healthy"] = valid
        return self._json(request, 200 if valid else 503, (json.dumps(status) + "\n").encode("utf-8"))
