"""The running emulator: an HTTPS server on loopback plus the controls tests need.

One :class:`Emulator` serves ``POST /sessions`` (Roles Anywhere CreateSession) and
``POST /sts/`` (STS GetCallerIdentity) over TLS >= 1.2 with a throw-away certificate.
It records every request and lets tests inject faults, so the resilience of ``serve``
and ``update`` (retries, backoff, outages) is tested against real sockets rather than
mocks:

- ``fail_next(n, status=503)``: the next ``n`` CreateSession calls answer ``status``
  (503 ``ServiceUnavailableException``, 500 ``InternalServerException``, or any other
  status with code ``InjectedFault``);
- ``throttle_next(n, status=429)``: the next ``n`` calls answer HTTP 429 with
  ``x-amzn-ErrorType: ThrottlingException`` ("Rate exceeded"); pass ``status=400`` for
  the 400 + ThrottlingException variant some AWS JSON services use;
- ``drop_next(n)``: the next ``n`` calls get their connection closed with no answer;
- ``respond_next(n, status=200, body=b"...", headers=...)``: the next ``n`` calls answer
  exactly these bytes (garbage, non-JSON 200s, JSON with missing or mistyped fields, huge
  bodies, escape sequences in error messages) -- what a broken proxy or a hostile server sends;
- ``stall_next(n, seconds)``: the next ``n`` calls read the request and then say nothing for
  ``seconds`` (a silent server; the client's read timeout must fire), then close;
- ``set_delay(seconds)``: every CreateSession answer waits that long first;
- ``hold_sessions()`` / ``release_sessions()``: CreateSession calls wait, unanswered, until
  released (:attr:`held_sessions` counts them), so a test can act while a call is provably
  in flight without guessing how long it takes;
- ``rate_limit=N`` (constructor or attribute): more than N CreateSession calls within
  one second are throttled like the real per-account quota (10 TPS by default on AWS);
- ``go_down()`` / ``come_back()``: stop listening (connections refused, open ones
  closed), then listen again on the same port.

Faults are queued in call order and apply only to ``/sessions``, before authentication,
the way a load balancer or a throttling front end would answer.
"""

from __future__ import annotations

import collections
import datetime as _dt
import json
import logging
import shutil
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from rasign.emulator.received import ReceivedRequest
from rasign.emulator.rejection import Rejection
from rasign.emulator.state import (
    AccountState,
    IssuedCredentials,
    Profile,
    Role,
    TrustAnchor,
)
from rasign.emulator.tls import TlsFiles, make_tls_files, server_context

log = logging.getLogger("rasign.emulator")
access_log = logging.getLogger("rasign.emulator.access")
"""One line per request and lifecycle event, at DEBUG so an embedded emulator (``rasign
demo``, tests) stays quiet; ``rasign emulator`` lowers this logger's level to show them."""

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_ROLE = "rasign-test-role"
STS_PATHS = ("/", "/sts", "/sts/")
SESSIONS_PATH = "/sessions"
_FAULT_CODES = {500: "InternalServerException", 503: "ServiceUnavailableException"}


class _Headers(dict[str, str]):
    """Header dict for the request log that looks names up case-insensitively."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        for name, value in pairs:
            key = name.lower()
            super().__setitem__(key, f"{self[key]},{value}" if key in self else value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        value: Any = super().get(key.lower(), default)
        return value


class Emulator:
    """A local IAM Roles Anywhere + STS endpoint that verifies signatures for real.

    ``trust_anchor_pems`` are PEM bytes (one or more CA certificates each); the first
    becomes :attr:`trust_anchor_arn`. A profile (:attr:`profile_arn`) allowing one role
    (:attr:`role_arn`) plus ``extra_roles`` is created automatically.

    Profile rules: ``profile_duration`` (durationSeconds, default 3600; values under
    AWS's 900 are allowed here for fast expiry tests),
    ``accept_role_session_name``, ``require_instance_properties``; the role's
    ``role_max_session_duration``. ``clock_offset`` shifts the emulator clock (skew and
    expiry checks) by that many seconds; ``clock`` replaces the real UTC clock under it (a
    test's :class:`~rasign.clock.FakeClock` ``now``, so issued expirations follow fake
    time). ``rate_limit`` throttles above N CreateSession
    calls per second. ``state_dir`` keeps the TLS files there instead of a temporary
    directory removed by :meth:`stop`.
    """

    def __init__(
        self,
        trust_anchor_pems: Sequence[bytes] = (),
        *,
        region: str = "us-east-1",
        account_id: str = DEFAULT_ACCOUNT,
        host: str = "127.0.0.1",
        port: int = 0,
        role_name: str = DEFAULT_ROLE,
        extra_roles: Sequence[str] = (),
        profile_duration: int = 3600,
        accept_role_session_name: bool = False,
        require_instance_properties: bool = False,
        role_max_session_duration: int = 43200,
        clock_offset: float = 0.0,
        state_dir: str | None = None,
        rate_limit: float | None = None,
        clock: Callable[[], _dt.datetime] | None = None,
    ) -> None:
        from rasign.emulator.chain import check_trust_anchor
        from rasign.emulator.state import MAX_DURATION
        from rasign.errors import ConfigError

        # Below AWS's 900 s minimum on purpose: short-lived credentials let refresh and
        # expiry tests run in seconds. ``rasign emulator`` keeps the real 900-43200 range.
        if not 1 <= profile_duration <= MAX_DURATION:
            raise ConfigError(f"profile duration must be 1-{MAX_DURATION} seconds, not {profile_duration}")
        self.region = region
        self.account_id = account_id
        self.host = host
        self.clock_offset = float(clock_offset)
        self._clock = clock
        self.state = AccountState(region=region, account_id=account_id)
        self._requested_port = port
        self._state_dir = state_dir
        self._own_dir: str | None = None

        anchors = [_load_pem_certificates(pem) for pem in trust_anchor_pems]
        for certificates in anchors:
            for cert in certificates:
                check_trust_anchor(cert)
        self.trust_anchors: list[TrustAnchor] = [
            self.state.add_trust_anchor(certs, "default" if index == 0 else f"anchor-{index}")
            for index, certs in enumerate(anchors)
        ]
        if not self.trust_anchors:
            self.trust_anchors.append(self.state.add_trust_anchor([], "default"))
        self.role: Role = self.state.add_role(role_name, max_session_duration=role_max_session_duration)
        self.extra_role_arns = [
            self.state.add_role(name, max_session_duration=role_max_session_duration).arn for name in extra_roles
        ]
        self.profile: Profile = self.state.add_profile(
            "default",
            [self.role.arn, *self.extra_role_arns],
            duration_seconds=profile_duration,
            accept_role_session_name=accept_role_session_name,
            require_instance_properties=require_instance_properties,
        )

        self.requests: list[dict[str, Any]] = []
        self.create_session_count = 0
        self._lock = threading.Lock()
        self._faults: list[tuple[str, int, Any]] = []
        self._released = threading.Event()
        self._delay = 0.0
        self._hold = threading.Event()
        self._hold.set()
        self.held_sessions = 0
        """CreateSession calls waiting for :meth:`release_sessions`."""
        self.rate_limit = rate_limit
        self._recent_calls: collections.deque[float] = collections.deque()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self.connections_accepted = 0
        """TCP connections accepted so far: a keep-alive client opens fewer than it sends requests."""
        self._context: ssl.SSLContext | None = None
        self.tls: TlsFiles | None = None
        self.port = 0

    # -- identity ---------------------------------------------------------------------

    @property
    def trust_anchor_arn(self) -> str:
        return self.trust_anchors[0].arn

    @property
    def profile_arn(self) -> str:
        return self.profile.arn

    @property
    def role_arn(self) -> str:
        return self.role.arn

    @property
    def endpoint(self) -> str:
        """Base URL of Roles Anywhere (``--endpoint``); valid once started."""
        self._require_started()
        return f"https://{self._url_host()}:{self.port}"

    @property
    def sts_endpoint(self) -> str:
        """Base URL for STS clients (``endpoint_url`` / ``--endpoint-url``)."""
        return f"{self.endpoint}/sts/"

    @property
    def ca_bundle(self) -> str:
        """PEM of the CA that issued the emulator's TLS certificate."""
        self._require_started()
        assert self.tls is not None
        return self.tls.ca_bundle

    @property
    def issued(self) -> list[IssuedCredentials]:
        """Credentials issued so far, oldest first."""
        return self.state.issued()

    def now(self) -> _dt.datetime:
        """The emulator clock: real UTC time (or ``clock``) plus :attr:`clock_offset` seconds."""
        base = self._clock() if self._clock is not None else _dt.datetime.now(_dt.timezone.utc)
        return base + _dt.timedelta(seconds=self.clock_offset)

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator clock (e.g. past an expiration) without sleeping."""
        self.clock_offset += seconds

    def describe(self) -> dict[str, Any]:
        """Everything a client needs, as written to ``emulator.json``."""
        return {
            "endpoint": self.endpoint,
            "sts_endpoint": self.sts_endpoint,
            "ca_bundle": self.ca_bundle,
            "region": self.region,
            "account_id": self.account_id,
            "trust_anchor_arn": self.trust_anchor_arn,
            "profile_arn": self.profile_arn,
            "role_arn": self.role_arn,
            "extra_role_arns": list(self.extra_role_arns),
        }

    # -- resources ----------------------------------------------------------------------

    def add_trust_anchor(self, pem: bytes, name: str | None = None, *, arn: str | None = None) -> str:
        """Trust another CA (PEM bytes); returns the new trust anchor ARN.

        ``arn`` pins the ARN, e.g. to replay a request recorded against a real account.
        """
        from rasign.emulator.chain import check_trust_anchor

        certificates = _load_pem_certificates(pem)
        for cert in certificates:
            check_trust_anchor(cert)
        anchor = self.state.add_trust_anchor(certificates, name or f"anchor-{len(self.trust_anchors)}", arn=arn)
        self.trust_anchors.append(anchor)
        return anchor.arn

    def add_role(self, name: str, *, max_session_duration: int = 43200) -> str:
        """Create a role (not yet in any profile); returns its ARN."""
        return self.state.add_role(name, max_session_duration=max_session_duration).arn

    def add_profile(self, name: str, role_arns: Sequence[str], **settings: Any) -> str:
        """Create another profile (settings as :class:`Profile` fields); returns its ARN."""
        return self.state.add_profile(name, role_arns, **settings).arn

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Emulator:
        """Make the TLS identity, bind (port 0 = ephemeral) and serve in a thread."""
        if self._server is not None:
            return self
        directory = self._state_dir
        if directory is None:
            directory = self._own_dir = tempfile.mkdtemp(prefix="rasign-emulator-")
        self.tls = make_tls_files(directory, self.host)
        self._context = server_context(self.tls)
        self._listen(self._requested_port)
        access_log.debug("emulator listening on %s (region %s)", self.endpoint, self.region)
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and delete the temporary TLS files."""
        self._shutdown_listener()
        if self._own_dir:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    def __enter__(self) -> Emulator:  # noqa: PYI034 - start() returns self
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- fault injection ----------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        """The next ``n`` CreateSession calls answer ``status`` (5xx by default)."""
        with self._lock:
            self._faults.extend([("fail", status, None)] * n)

    def throttle_next(self, n: int = 1, status: int = 429) -> None:
        """The next ``n`` CreateSession calls answer ThrottlingException (HTTP 429 by default)."""
        with self._lock:
            self._faults.extend([("throttle", status, None)] * n)

    def drop_next(self, n: int = 1) -> None:
        """The next ``n`` CreateSession calls get their connection closed without an answer."""
        with self._lock:
            self._faults.extend([("drop", 0, None)] * n)

    def respond_next(
        self,
        n: int = 1,
        *,
        status: int = 200,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
        trickle: float = 0.0,
    ) -> None:
        """The next ``n`` CreateSession calls answer ``status`` with exactly ``body`` and ``headers``.

        Nothing is checked or added but ``Content-Type``, ``Content-Length`` and a request id,
        so tests can send what a broken or hostile endpoint would. ``trickle`` sends the body
        16 bytes at a time, that many seconds apart (a slow server that never goes silent
        long enough for a read timeout).
        """
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        payload = {"body": data, "headers": dict(headers or {}), "content_type": content_type, "trickle": trickle}
        with self._lock:
            self._faults.extend([("respond", status, payload)] * n)

    def stall_next(self, n: int = 1, seconds: float = 5.0) -> None:
        """The next ``n`` CreateSession calls get no answer for ``seconds``, then a closed connection.

        :meth:`stop` ends a stall at once, so a test never waits for it to run out.
        """
        with self._lock:
            self._faults.extend([("stall", 0, max(0.0, float(seconds)))] * n)

    def revoke(self, certificate: Any) -> None:
        """Refuse this certificate from now on ("Untrusted Signing Certificate"), like a CRL."""
        self.state.revoke(certificate)

    def set_delay(self, seconds: float) -> None:
        """Delay every CreateSession answer by ``seconds`` (0 turns it off)."""
        self._delay = max(0.0, float(seconds))

    def hold_sessions(self) -> None:
        """From now on CreateSession calls wait, unanswered, until :meth:`release_sessions` (or :meth:`stop`)."""
        self._hold.clear()

    def release_sessions(self) -> None:
        """Let held CreateSession calls (and later ones) go on."""
        self._hold.set()

    def clear_faults(self) -> None:
        """Forget queued faults and the delay."""
        with self._lock:
            self._faults.clear()
        self._delay = 0.0

    def go_down(self) -> None:
        """Stop listening and drop open connections: clients see connection refused."""
        self._shutdown_listener()
        access_log.debug("emulator is down (port %d closed)", self.port)

    def come_back(self) -> None:
        """Listen again on the same port after :meth:`go_down`."""
        if self._server is None:
            self._listen(self.port)
            access_log.debug("emulator is back on %s", self.endpoint)

    @property
    def is_up(self) -> bool:
        return self._server is not None

    # -- internals ------------------------------------------------------------------------

    def _listen(self, port: int) -> None:
        self._released.clear()
        server = _Server((self.host, port), _Handler)
        server.emulator = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"rasign-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def _shutdown_listener(self) -> None:
        self._released.set()
        self._hold.set()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if thread is not None:
            thread.join(timeout=5)

    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def _require_started(self) -> None:
        if self.tls is None:
            raise RuntimeError("Emulator.start() has not been called")

    def _wait_if_held(self) -> None:
        if self._hold.is_set():
            return
        with self._lock:
            self.held_sessions += 1
        try:
            self._hold.wait(120)  # bounded: a test that forgets to release must not hang the suite
        finally:
            with self._lock:
                self.held_sessions -= 1

    def _next_fault(self) -> tuple[str, int, Any] | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def _over_rate_limit(self) -> bool:
        """Sliding one-second window over CreateSession calls that reached the service."""
        if not self.rate_limit:
            return False
        now = time.monotonic()
        with self._lock:
            while self._recent_calls and now - self._recent_calls[0] >= 1.0:
                self._recent_calls.popleft()
            if len(self._recent_calls) >= self.rate_limit:
                return True
            self._recent_calls.append(now)
            return False

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)
            if entry["path"] == SESSIONS_PATH:
                self.create_session_count += 1

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)
            self.connections_accepted += add


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: Emulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanished mid-request is normal here; keep stderr clean."""
        log.debug("connection from %s ended abnormally", client_address[0] if client_address else "?")

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        # The TLS handshake runs lazily in the handler thread, so one slow client cannot
        # block the accept loop.
        context = self.emulator._context
        assert context is not None
        return context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False), address


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rasign-emulator"
    sys_version = ""
    # Headers and body leave in separate writes; without TCP_NODELAY, Nagle plus the
    # client's delayed ACK stalls every response by ~40 ms.
    disable_nagle_algorithm = True
    timeout = 30
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.emulator._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.emulator._track(self.connection, False)

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError) as err:
            log.debug("connection closed: %s", err.__class__.__name__)

    def version_string(self) -> str:
        return "rasign-emulator"

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header on the emulator's clock, so clients can measure skew against it."""
        from email.utils import formatdate

        moment = self.server.emulator.now().timestamp() if timestamp is None else timestamp
        return formatdate(moment, usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib access log: it would print raw request lines to stderr."""

    def do_POST(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        emulator = self.server.emulator
        request_id = str(uuid.uuid4())
        split = urlsplit(self.path)
        try:
            body = self._read_body()
        except ValueError as err:
            self._send_json(400, {"message": str(err)}, request_id, code="SerializationException")
            return
        received = ReceivedRequest(
            method=self.command,
            path=split.path,
            query=split.query,
            headers=tuple(self.headers.items()),
            body=body,
        )
        entry: dict[str, Any] = {
            "method": self.command,
            "path": split.path,
            "query": split.query,
            "headers": _Headers(received.headers),
            "body": body,
            "status": None,
            "error_code": None,
            "reason": None,
            "request_id": request_id,
            "time": emulator.now(),
        }
        emulator._record(entry)
        try:
            if split.path == SESSIONS_PATH and self.command == "POST":
                self._create_session(received, entry)
            elif split.path in STS_PATHS and self.command in ("POST", "GET"):
                self._sts(received, entry)
            else:
                entry.update(status=404, error_code="UnknownOperationException")
                self._send_json(
                    404,
                    {"message": f"No operation at {self.command} {split.path}"},
                    request_id,
                    code="UnknownOperationException",
                )
        except Exception as err:  # the emulator's own bug: answer 500, keep serving
            log.exception("emulator failure on %s %s", self.command, split.path)
            entry.update(status=500, error_code="InternalFailure", reason=repr(err))
            self._send_json(500, {"message": "internal emulator failure"}, request_id, code="InternalFailure")
        access_log.debug("%s %s -> %s %s", self.command, split.path, entry["status"], entry["error_code"] or "")

    def _create_session(self, received: ReceivedRequest, entry: dict[str, Any]) -> None:
        from rasign.emulator.sessions import create_session

        emulator = self.server.emulator
        request_id = entry["request_id"]
        if emulator._delay:
            time.sleep(emulator._delay)
        emulator._wait_if_held()
        fault = emulator._next_fault()
        if fault is None and emulator._over_rate_limit():
            fault = ("rate-limit", 429, None)
        if fault is not None:
            kind, status, payload = fault
            if kind == "respond":
                entry.update(status=status, error_code="InjectedResponse", reason="injected fault")
                self._send(
                    status,
                    payload["body"],
                    payload["content_type"],
                    request_id,
                    payload["headers"],
                    trickle=payload["trickle"],
                )
                return
            if kind == "stall":
                entry.update(status=0, error_code="Stalled", reason="injected fault")
                emulator._released.wait(payload)
                self.close_connection = True
                return
            if kind == "drop":
                entry.update(status=0, error_code="ConnectionDropped", reason="injected fault")
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if kind in ("throttle", "rate-limit"):
                code, message = "ThrottlingException", "Rate exceeded"
            else:
                code, message = _FAULT_CODES.get(status, "InjectedFault"), "injected fault"
            entry.update(
                status=status, error_code=code, reason="rate limit" if kind == "rate-limit" else "injected fault"
            )
            self._send_json(status, {"message": message}, request_id, code=code)
            return
        try:
            body, _ = create_session(received, emulator.state, emulator.now())
        except Rejection as rejection:
            entry.update(status=rejection.status, error_code=rejection.code, reason=rejection.reason)
            access_log.debug("CreateSession refused: %s (%s)", rejection.code, rejection.reason.splitlines()[0])
            self._send_json(rejection.status, {"message": rejection.service_message}, request_id, code=rejection.code)
            return
        entry.update(status=201)
        self._send_json(201, body, request_id)

    def _sts(self, received: ReceivedRequest, entry: dict[str, Any]) -> None:
        from rasign.emulator.sts import StsError, error_xml, handle_sts

        emulator = self.server.emulator
        request_id = entry["request_id"]
        try:
            text = handle_sts(received, emulator.state, emulator.now(), request_id)
        except StsError as error:
            entry.update(status=error.status, error_code=error.code, reason=error.message)
            self._send(error.status, error_xml(error, request_id).encode(), "text/xml", request_id)
            return
        entry.update(status=200)
        self._send(200, text.encode(), "text/xml", request_id)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        if not length.isdigit() or int(length) > 1 << 20:
            raise ValueError("bad Content-Length")
        return self.rfile.read(int(length))

    def _send_json(self, status: int, body: dict[str, Any], request_id: str, *, code: str | None = None) -> None:
        extra = {"x-amzn-ErrorType": code} if code else {}
        self._send(status, json.dumps(body).encode(), "application/json", request_id, extra)

    def _send(
        self,
        status: int,
        data: bytes,
        content_type: str,
        request_id: str,
        extra: dict[str, str] | None = None,
        *,
        trickle: float = 0.0,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", request_id)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if trickle <= 0:
            try:
                self.wfile.write(data)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError) as err:
                # A client that stops reading (rasign caps an answer at 1 MiB) is a normal end.
                log.debug("client went away during the answer: %s", type(err).__name__)
            return
        self.wfile.flush()
        for offset in range(0, len(data), 16):
            if self.server.emulator._released.wait(trickle):
                return  # stopping: end the trickle at once
            try:
                self.wfile.write(data[offset : offset + 16])
                self.wfile.flush()
            except OSError:  # the client gave up, as it should
                self.close_connection = True
                return


def _load_pem_certificates(pem: bytes | str) -> list[Any]:
    from cryptography import x509

    from rasign.errors import ConfigError

    if isinstance(pem, str):
        pem = pem.encode("ascii", "replace")
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as err:
        raise ConfigError("trust anchor is not a PEM certificate", hint="pass the CA certificate in PEM form") from err
    return list(certificates)
