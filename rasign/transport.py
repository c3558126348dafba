"""The HTTPS client rasign uses for its own calls (CreateSession, STS, doctor's probe).

Why not ``requests``: on a cold ``credential-process`` it cost about 115 ms of imports
(urllib3 alone 87 ms: http2 support reading package metadata, the email parser,
charset_normalizer, idna, certifi), half the run, while ``socket`` + ``ssl`` cost a few ms.
rasign sends one small POST and reads one small JSON answer, so this module speaks just
enough HTTP/1.1 over the standard library, with every bound a hostile server needs:

- TLS 1.2 or newer only; the certificate and host name are verified against the system
  store (``SSL_CERT_FILE``/``SSL_CERT_DIR`` apply, as for OpenSSL), or against the CA
  bundle given (``--ca-bundle``/``AWS_CA_BUNDLE``); ``verify=False`` turns both off.
- Proxies from the environment as ``requests`` chooses them (:mod:`rasign.proxies`):
  ``HTTPS_PROXY``/``https_proxy``, else ``ALL_PROXY``; ``NO_PROXY``. An https endpoint
  is reached through a CONNECT tunnel, so TLS still runs end to end with the endpoint; with
  an ``https://`` proxy that TLS runs inside the TLS connection to the proxy.
- A connect timeout (DNS, TCP, proxy tunnel, TLS handshake) and a read timeout (each wait
  for bytes); once the answer has started, all of it must arrive within the read timeout
  in total and weigh at most :data:`MAX_ANSWER_BYTES`, so a trickling server cannot hold
  a caller forever nor fill its memory. Header lines, their number and their total size
  are capped. ``Content-Length``, chunked and read-to-close bodies; no redirect followed.
- One keep-alive connection is kept for the next request to the same place (``serve``,
  ``update`` and the agent reuse a client). A connection the server closed while idle is
  noticed before anything is sent and replaced; a request whose bytes may have reached the
  server is never sent again here (the caller's retry loop signs a new one).

Failures are :class:`TransportError` subclasses whose text never holds a URL, a query
string or a proxy password; :mod:`rasign.network_errors` turns them into plain words.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from rasign.proxies import Proxy, proxy_for

MAX_ANSWER_BYTES = 1 << 20
"""Largest answer body read (a CreateSession answer is a few KB); more is refused, not buffered."""
MAX_LINE = 8192
"""Longest status, header or chunk-size line accepted."""
MAX_HEADERS = 100
MAX_HEAD_BYTES = 65536
_DEFAULT_PORTS = {"https": 443, "http": 80}


class TransportError(OSError):
    """A request failed below HTTP semantics. ``str()`` is a plain reason without URL or secret."""


class ConnectFailed(TransportError):
    """The TCP connection (to the endpoint, or to the proxy when ``via_proxy``) did not open."""

    def __init__(self, message: str, *, via_proxy: bool = False) -> None:
        super().__init__(message)
        self.via_proxy = via_proxy


class ProxyRefused(ConnectFailed):
    """The proxy answered the CONNECT request with something other than 200."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"the proxy answered the tunnel request with HTTP {status} {reason}".rstrip(), via_proxy=True)
        self.status = status
        self.reason = reason


class ProxyBroken(ConnectFailed):
    """The proxy closed the connection, or sent something that is not HTTP, instead of a tunnel."""

    def __init__(self, message: str) -> None:
        super().__init__(message, via_proxy=True)


class TlsFailed(TransportError):
    """The TLS handshake failed (untrusted certificate, wrong name, old protocol version)."""


class ProxyTlsFailed(TlsFailed):
    """The TLS handshake with an ``https://`` proxy itself failed."""

    via_proxy = True


class Timeout(TransportError):
    """No byte arrived within the timeout; ``connecting`` tells which of the two it was."""

    def __init__(self, message: str, *, connecting: bool) -> None:
        super().__init__(message)
        self.connecting = connecting


class BadAnswer(TransportError):
    """The bytes that came back are not HTTP/1.x (or break its framing rules)."""


class NoAnswer(TransportError):
    """The server closed the connection before sending a single byte of an answer."""


class BrokeOff(TransportError):
    """The server closed the connection in the middle of its answer."""


class AnswerTooLarge(TransportError):
    """The server sent (or announced) more than :data:`MAX_ANSWER_BYTES`."""


class AnswerTooSlow(TransportError):
    """The server trickled its answer for longer than the read timeout allows in total."""


class Headers(Mapping[str, str]):
    """Answer headers looked up without regard to case; repeated ones joined with ``", "``."""

    def __init__(self, pairs: list[tuple[str, str]] | None = None) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in pairs or []:
            key = name.lower()
            if key in self._items:
                value = f"{self._items[key][1]}, {value}"
            self._items[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items


@dataclass(frozen=True)
class Answer:
    """One HTTP answer, its body read in full but capped at :data:`MAX_ANSWER_BYTES`."""

    status: int
    headers: Headers
    body: bytes

    def header(self, name: str) -> str:
        """A header's value made safe to show (servers can put escapes in headers too)."""
        from rasign.textsafe import clean

        return clean(self.headers.get(name, "") or "", 200)

    def json(self) -> Any:
        """The body parsed as JSON; ``ValueError`` when it is not (or is not UTF-8, or nests absurdly)."""
        import json

        try:
            return json.loads(self.body.decode("utf-8"))
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def parse(cls, url: str) -> _Target:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError("only http and https URLs with a host are supported")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(scheme, parts.hostname, parts.port or _DEFAULT_PORTS[scheme], path)


def tls_context(verify: bool | str) -> ssl.SSLContext:
    """A client context: TLS >= 1.2, verified against ``verify`` (a CA file) or the system store.

    When OpenSSL has no default store at all (python.org builds on macOS before "Install
    Certificates" ran), certifi's bundle is used if it is installed.
    """
    if verify is False:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif isinstance(verify, str):
        context = _bundle_context(verify)
    else:
        context = ssl.create_default_context()
        paths = ssl.get_default_verify_paths()
        if paths.cafile is None and paths.capath is None and not context.cert_store_stats()["x509_ca"]:
            _load_certifi(context)
    # Python 3.13 turns on strict X.509 checks; requests (urllib3) never did, and a
    # TLS-inspecting proxy's CA often fails them, so keep the behaviour users had.
    context.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    return context


def _bundle_context(bundle: str) -> ssl.SSLContext:
    """A context trusting the CA file ``bundle``; an unusable file is a one-line ConfigError.

    Otherwise the first request fails with an OpenSSL error about ``load_verify_locations``
    that does not say which file is wrong.
    """
    from rasign.errors import ConfigError
    from rasign.textsafe import clean

    try:
        return ssl.create_default_context(cafile=bundle)
    except (ssl.SSLError, OSError, ValueError) as err:
        reason = (
            "permission denied" if isinstance(err, PermissionError) else "it holds no PEM certificate OpenSSL accepts"
        )
        raise ConfigError(
            f"cannot use the CA bundle {clean(bundle, 300)}: {reason}",
            hint="pass a PEM file of CA certificates to --ca-bundle / AWS_CA_BUNDLE",
        ) from err


def _load_certifi(context: ssl.SSLContext) -> None:
    try:
        import certifi  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return
    context.load_verify_locations(cafile=certifi.where())


class _Reader:
    """Buffered reads from one socket, each bounded by the read timeout and, once the answer
    has begun, by one deadline for the whole answer."""

    def __init__(self, sock: _Stream, read_timeout: float, monotonic: Callable[[], float]) -> None:
        self.sock = sock
        self.read_timeout = read_timeout
        self.monotonic = monotonic
        self.buffer = bytearray()
        self.deadline: float | None = None

    def _fill(self) -> bool:
        """Receive more bytes; False at end of stream."""
        wait = self.read_timeout
        if self.deadline is not None:
            wait = min(wait, self.deadline - self.monotonic())
            if wait <= 0:
                raise AnswerTooSlow(f"the answer took longer than {self.read_timeout:g} s")
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError as err:
            if self.deadline is not None and self.monotonic() >= self.deadline:
                raise AnswerTooSlow(f"the answer took longer than {self.read_timeout:g} s") from err
            raise Timeout(f"no answer within {self.read_timeout:g} s", connecting=False) from err
        except ssl.SSLError as err:
            raise BrokeOff("the TLS stream broke off in the middle of the answer") from err
        if self.deadline is None:
            self.deadline = self.monotonic() + self.read_timeout
        self.buffer += chunk
        return bool(chunk)

    def line(self, started: bool = True) -> bytes:
        """One CRLF- (or LF-) terminated line, without its ending."""
        while True:
            end = self.buffer.find(b"\n")
            if 0 <= end:
                if end > MAX_LINE:
                    break
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buffer) > MAX_LINE:
                break
            if not self._fill():
                if not started and not self.buffer:
                    raise NoAnswer("the server closed the connection without answering")
                raise BrokeOff("the server closed the connection in the middle of the answer")
        raise BadAnswer(f"a line of the answer is longer than {MAX_LINE} bytes")

    def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise BrokeOff("the server closed the connection in the middle of the answer")
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def until_closed(self, limit: int) -> bytes:
        while self._fill():
            if len(self.buffer) > limit:
                raise AnswerTooLarge()
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def _status_line(line: bytes) -> tuple[str, int, str]:
    """``HTTP/1.1 200 OK`` -> ("HTTP/1.1", 200, "OK"); anything else is not HTTP."""
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3 or not parts[1].isdigit():
        raise BadAnswer("the status line is not HTTP/1.x")
    reason = parts[2].decode("latin-1") if len(parts) == 3 else ""
    return parts[0].decode("ascii", "replace"), int(parts[1]), reason


def _read_head(reader: _Reader, started: bool = False) -> tuple[str, int, str, Headers]:
    """Status line and headers of one answer, skipping 1xx interim answers."""
    for _ in range(5):
        version, status, reason = _status_line(reader.line(started=started))
        pairs = _header_lines(reader)
        if status >= 200 or status == 101:
            return version, status, reason, Headers(pairs)
        started = True
    raise BadAnswer("too many interim (1xx) answers")


def _header_lines(reader: _Reader) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    total = 0
    while True:
        line = reader.line()
        if not line:
            return pairs
        total += len(line)
        if total > MAX_HEAD_BYTES or len(pairs) >= MAX_HEADERS:
            raise BadAnswer(f"the answer has more than {MAX_HEADERS} header lines or {MAX_HEAD_BYTES // 1024} KiB")
        if line[:1] in (b" ", b"\t") and pairs:  # obsolete line folding: part of the previous value
            pairs[-1] = (pairs[-1][0], f"{pairs[-1][1]} {line.strip().decode('latin-1')}")
            continue
        raw_name, colon, raw_value = line.partition(b":")
        if not colon or not raw_name or raw_name != raw_name.strip():
            raise BadAnswer("a header line of the answer is malformed")
        pairs.append((raw_name.decode("latin-1"), raw_value.strip().decode("latin-1")))


def _content_length(headers: Headers) -> int | None:
    if "Content-Length" not in headers:
        return None
    values = {value.strip() for value in headers["Content-Length"].split(",")}
    if len(values) != 1:
        raise BadAnswer("the answer has conflicting Content-Length headers")
    (text,) = values
    if not text.isdigit() or not text.isascii():
        raise BadAnswer(f"the answer's Content-Length is not a number: {text[:40]!r}")
    return int(text)


def _chunked_body(reader: _Reader, limit: int) -> bytes:
    body = bytearray()
    while True:
        size_text = reader.line().split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadAnswer("a chunk size in the answer is not hexadecimal") from None
        if size < 0 or size_text[:1] in (b"-", b"+"):
            raise BadAnswer("a chunk size in the answer is not hexadecimal")
        if size == 0:
            _header_lines(reader)  # trailers, bounded like headers, then the blank line
            return bytes(body)
        if len(body) + size > limit:
            raise AnswerTooLarge()
        body += reader.exactly(size)
        if reader.line():
            raise BadAnswer("a chunk in the answer is longer than its size says")


def _body(reader: _Reader, method: str, status: int, headers: Headers, limit: int) -> tuple[bytes, bool]:
    """The body and whether the connection can carry another request afterwards."""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return b"", True
    encoding = headers.get("Transfer-Encoding", "").lower()
    if encoding:
        if encoding.rsplit(",", 1)[-1].strip() == "chunked":
            return _chunked_body(reader, limit), True
        return reader.until_closed(limit), False
    length = _content_length(headers)
    if length is None:
        return reader.until_closed(limit), False
    if length > limit:
        raise AnswerTooLarge()
    return reader.exactly(length), True


def _keeps_alive(version: str, headers: Headers) -> bool:
    """HTTP/1.1 keeps the connection unless it says ``close``; HTTP/1.0 only if it says ``keep-alive``."""
    tokens = {token.strip().lower() for token in headers.get("Connection", "").split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


def _check_header(name: str, value: str) -> None:
    """Header injection is a programming error here: every value is built by rasign itself."""
    if any(ch in name + value for ch in "\r\n\0") or not name or ":" in name:
        raise ValueError(f"header {name!r} holds characters HTTP does not allow")


class _TlsInTls:
    """TLS with the endpoint carried inside the TLS connection to an ``https://`` proxy.

    An ``SSLSocket`` cannot be wrapped again, so the inner TLS runs on memory buffers
    (``SSLObject``) whose bytes travel over the outer socket. It offers the few socket
    methods the transport uses.
    """

    def __init__(self, outer: ssl.SSLSocket, context: ssl.SSLContext, host: str) -> None:
        self.outer = outer
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._in, self._out, server_hostname=host)
        self._io(self._tls.do_handshake)

    def _io(self, operation: Callable[..., Any], *args: Any) -> Any:
        while True:
            try:
                result = operation(*args)
            except ssl.SSLWantReadError:
                self._flush()
                data = self.outer.recv(65536)
                if data:
                    self._in.write(data)
                else:
                    self._in.write_eof()
                continue
            self._flush()
            return result

    def _flush(self) -> None:
        data = self._out.read()
        if data:
            self.outer.sendall(data)

    def recv(self, size: int) -> bytes:
        try:
            return bytes(self._io(self._tls.read, size))
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""  # a clean close, or one without close_notify: the end either way

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self._io(self._tls.write, view) :]

    def settimeout(self, timeout: float | None) -> None:
        self.outer.settimeout(timeout)

    def fileno(self) -> int:
        return self.outer.fileno()

    def pending(self) -> int:
        return self._tls.pending() or self.outer.pending()

    def close(self) -> None:
        self.outer.close()


_Stream = socket.socket | _TlsInTls
"""What a connection reads and writes: a socket (plain or TLS), or TLS inside a proxy's TLS."""


class _Connection:
    """One open socket (TLS or plain, maybe tunnelled), and where it goes."""

    def __init__(self, key: tuple[Any, ...], sock: _Stream) -> None:
        self.key = key
        self.sock = sock

    def idle_closed(self) -> bool:
        """True when the server closed (or wrote to) the connection while it sat idle.

        Either way it cannot carry a request: anything readable before we asked is an end of
        stream, a TLS close_notify, or a timeout notice sent before closing.
        """
        import select

        try:
            if isinstance(self.sock, (ssl.SSLSocket, _TlsInTls)) and self.sock.pending():
                return True
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class HttpsClient:
    """Send requests over one reusable connection; see the module docstring for the rules."""

    def __init__(
        self,
        *,
        verify: bool | str = True,
        connect_timeout: float = 10.0,
        read_timeout: float = 10.0,
        environ: Mapping[str, str] | None = None,
        limit: int = MAX_ANSWER_BYTES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.verify = verify
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.environ = environ
        self.limit = limit
        self.monotonic = monotonic
        self._context: ssl.SSLContext | None = None
        self._conn: _Connection | None = None
        self._lock = threading.Lock()
        self.connections_opened = 0
        """How many connections this client opened (keep-alive shows as fewer than requests)."""

    def close(self) -> None:
        """Close the kept connection, if any."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> HttpsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self, url: str) -> Proxy | None:
        """Everything local about a request to ``url``: the TLS settings and the proxy, if any.

        Raises :class:`~rasign.errors.ConfigError` for an unusable proxy URL or CA bundle,
        so a caller can fail before it signs anything or touches the network.
        """
        target = _Target.parse(url)
        if target.scheme == "https" and self._context is None:
            self._context = tls_context(self.verify)
        return proxy_for(target.scheme, target.host, target.port, self.environ)

    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: bytes = b"") -> Answer:
        """Send one request and read its whole answer; :class:`TransportError` when that fails."""
        target = _Target.parse(url)
        proxy = proxy_for(target.scheme, target.host, target.port, self.environ)
        with self._lock:  # one connection: concurrent callers take turns
            conn = self._connection(target, proxy)
            try:
                reader = _Reader(conn.sock, self.read_timeout, self.monotonic)
                self._send(conn, method, target, proxy, headers or {}, body)
                version, status, _, answer_headers = _read_head(reader)
                data, reusable = _body(reader, method, status, answer_headers, self.limit)
            except BaseException:
                self.close()
                raise
            if not reusable or reader.buffer or not _keeps_alive(version, answer_headers):
                self.close()
        return Answer(status=status, headers=answer_headers, body=data)

    # -- connections -----------------------------------------------------------------

    def _connection(self, target: _Target, proxy: Proxy | None) -> _Connection:
        key = (target.scheme, target.host, target.port, proxy)
        if self._conn is not None and (self._conn.key != key or self._conn.idle_closed()):
            self.close()
        if self._conn is None:
            self._conn = _Connection(key, self._open(target, proxy))
            self.connections_opened += 1
        return self._conn

    def _open(self, target: _Target, proxy: Proxy | None) -> _Stream:
        where = (proxy.host, proxy.port) if proxy else (target.host, target.port)
        sock: _Stream = _tcp(where, self.connect_timeout, via_proxy=proxy is not None)
        try:
            if proxy is not None and proxy.scheme == "https":
                sock = self._handshake(sock, proxy.host, to_proxy=True)
            if proxy is not None and target.scheme == "https":
                self._tunnel(sock, target, proxy)
            if target.scheme == "https":
                sock = self._handshake(sock, target.host)
            sock.settimeout(self.read_timeout)
            return sock
        except BaseException:
            sock.close()
            raise

    def _tunnel(self, sock: _Stream, target: _Target, proxy: Proxy) -> None:
        lines = [f"CONNECT {target.authority} HTTP/1.1", f"Host: {target.authority}"]
        if proxy.authorization:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            reader = _Reader(sock, self.connect_timeout, self.monotonic)
            _, status, reason, _ = _read_head(reader)
        except (TimeoutError, Timeout, AnswerTooSlow) as err:
            raise Timeout(
                f"the proxy did not open a tunnel within {self.connect_timeout:g} s", connecting=True
            ) from err
        except BadAnswer as err:
            raise ProxyBroken(f"the proxy's answer to the tunnel request is not HTTP ({err})") from err
        except OSError as err:
            raise ProxyBroken("the proxy closed the connection instead of opening a tunnel") from err
        if status != 200:
            raise ProxyRefused(status, proxy.redact(_shown(reason)))
        if reader.buffer:
            raise ProxyBroken("the proxy sent bytes after accepting the tunnel")

    def _handshake(self, sock: _Stream, host: str, *, to_proxy: bool = False) -> _Stream:
        """TLS with ``host`` over ``sock``; inside the proxy's TLS when ``sock`` already is TLS."""
        if self._context is None:
            self._context = tls_context(self.verify)
        failed = ProxyTlsFailed if to_proxy else TlsFailed
        sock.settimeout(self.connect_timeout)
        try:
            if not isinstance(sock, ssl.SSLSocket):
                assert isinstance(sock, socket.socket)
                return self._context.wrap_socket(sock, server_hostname=host)
            return _TlsInTls(sock, self._context, host)
        except ssl.SSLCertVerificationError as err:
            raise failed(f"certificate verify failed: {err.verify_message or err.reason}") from err
        except ssl.SSLError as err:
            raise failed(f"TLS handshake failed: {err.reason or err.strerror or err}") from err
        except TimeoutError as err:
            raise Timeout(f"the TLS handshake took longer than {self.connect_timeout:g} s", connecting=True) from err
        except OSError as err:
            raise failed("the server closed the connection during the TLS handshake") from err

    # -- requests ------------------------------------------------------------------------

    def _send(
        self,
        conn: _Connection,
        method: str,
        target: _Target,
        proxy: Proxy | None,
        headers: Mapping[str, str],
        body: bytes,
    ) -> None:
        forward = proxy is not None and target.scheme == "http"  # plain http via a proxy: absolute form
        path = f"http://{target.authority}{target.path}" if forward else target.path
        lines = [f"{method} {path} HTTP/1.1"]
        sent = {name.lower() for name in headers}
        if "host" not in sent:
            default = target.port == _DEFAULT_PORTS[target.scheme]
            lines.append(f"Host: {target.authority.rsplit(':', 1)[0] if default else target.authority}")
        for name, value in headers.items():
            _check_header(name, value)
            lines.append(f"{name}: {value}")
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        if forward and proxy is not None and proxy.authorization:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        conn.sock.settimeout(self.read_timeout)
        try:
            conn.sock.sendall(head + body)
        except TimeoutError as err:
            raise Timeout(f"the request could not be sent within {self.read_timeout:g} s", connecting=False) from err


def _tcp(where: tuple[str, int], timeout: float, *, via_proxy: bool) -> socket.socket:
    try:
        sock = socket.create_connection(where, timeout=timeout)
    except TimeoutError as err:
        if via_proxy:
            raise ConnectFailed(f"the proxy did not accept a connection within {timeout:g} s", via_proxy=True) from err
        raise Timeout(f"no connection within {timeout:g} s", connecting=True) from err
    except OSError as err:
        raise ConnectFailed(
            "could not connect to the proxy" if via_proxy else "could not connect", via_proxy=via_proxy
        ) from err
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _shown(text: str) -> str:
    from rasign.textsafe import clean

    return clean(text, 120)
