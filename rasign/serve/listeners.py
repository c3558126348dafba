"""Sockets for ``rasign serve``: TCP on IPv4/IPv6 and unix sockets.

Defaults are loopback only (``127.0.0.1`` and ``::1``). A non-loopback address is a
deliberate choice (``--allow-non-loopback``) and then needs an auth token, because
anything that can reach the port could otherwise walk away with the role's credentials.

Every accepted TCP connection gets the IP TTL / IPv6 hop limit from ``--hop-limit``;
with 1, a response cannot cross a router (EC2's IMDS uses the same trick against
containers forwarding requests).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import socketserver
import stat
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

from rasign.errors import StoreError, UsageError

log = logging.getLogger("rasign.serve")


@dataclass(frozen=True)
class ListenSpec:
    """One address to listen on."""

    host: str
    port: int
    explicit: bool = True
    """False for the built-in defaults: an unavailable ``::1`` is then only a warning."""

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def display(self, port: int | None = None) -> str:
        shown = self.port if port is None else port
        return f"[{self.host}]:{shown}" if ":" in self.host else f"{self.host}:{shown}"

    def is_loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"


def parse_listen(text: str) -> ListenSpec:
    """``127.0.0.1:9911``, ``[::1]:9911``, ``0.0.0.0:80``, ``:9911`` (all IPv4) or ``9911``."""
    value = text.strip()
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise UsageError(f"invalid --listen address {text!r}", hint="use [ADDR]:PORT for IPv6, e.g. [::1]:9911")
        port_text = rest[1:]
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
        host = host or "0.0.0.0"
    elif value.isdigit():
        host, port_text = "127.0.0.1", value
    else:
        raise UsageError(f"invalid --listen address {text!r}", hint="use ADDR:PORT, e.g. 127.0.0.1:9911 or [::1]:9911")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError as err:
        raise UsageError(f"invalid --listen address {text!r}: {host!r} is not an IP address") from err
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"invalid --listen port in {text!r}", hint="ports are 0..65535 (0 = pick a free one)")
    return ListenSpec(host, int(port_text))


class _QuietErrors:
    """Log client disconnects at debug level instead of printing tracebacks to stderr."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        log.debug("connection from %s ended with an error", client_address, exc_info=sys.exc_info())


class TcpCredentialServer(_QuietErrors, ThreadingHTTPServer):
    """Threaded HTTP server that sets the hop limit on every accepted socket."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, spec: ListenSpec, handler: type, hop_limit: int) -> None:
        self.address_family = spec.family
        self.hop_limit = hop_limit
        self.spec = spec
        super().__init__((spec.host, spec.port), handler)

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6 and hasattr(socket, "IPV6_V6ONLY"):
            # ::1 and 127.0.0.1 are separate listeners; never grab IPv4 through IPv6.
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        try:
            if self.address_family == socket.AF_INET6:
                conn.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, self.hop_limit)
            else:
                conn.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, self.hop_limit)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            conn.close()
            raise
        return conn, address

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class UnixCredentialServer(_QuietErrors, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """HTTP over a unix socket; the socket file is 0600 so only this user may connect."""

    daemon_threads = True

    def __init__(self, path: str, handler: type) -> None:
        self.path = path
        _remove_stale_socket(path)
        old_umask = os.umask(0o177)
        try:
            super().__init__(path, handler)
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)

    def server_close(self) -> None:
        super().server_close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def _remove_stale_socket(path: str) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise StoreError(f"{path} exists and is not a socket", hint="remove it or choose another --unix-socket path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody listening: a leftover from a crash
        return
    finally:
        probe.close()
    raise StoreError(f"another server is already listening on {path}")


def default_specs(port: int) -> list[ListenSpec]:
    """127.0.0.1 and ::1 on ``port``."""
    return [ListenSpec("127.0.0.1", port, explicit=False), ListenSpec("::1", port, explicit=False)]


def open_tcp(specs: list[ListenSpec], handler: type, hop_limit: int) -> list[TcpCredentialServer]:
    """Bind every spec; a default ``::1`` that cannot be bound is skipped with a warning.

    With port 0 on the default pair, ``::1`` reuses the port picked for IPv4 so one port
    number describes the service.
    """
    servers: list[TcpCredentialServer] = []
    chosen_port: int | None = None
    try:
        for spec in specs:
            if not spec.explicit and spec.port == 0 and chosen_port is not None:
                spec = ListenSpec(spec.host, chosen_port, explicit=False)
            try:
                server = TcpCredentialServer(spec, handler, hop_limit)
            except OSError as err:
                if not spec.explicit and spec.family == socket.AF_INET6:
                    log.warning("not listening on %s: %s", spec.display(), err.strerror or err)
                    continue
                raise StoreError(
                    f"failed to create listener on {spec.display()}: {err.strerror or err}",
                    hint="pick another --port/--listen or stop the program using it",
                ) from err
            if not spec.explicit and chosen_port is None:
                chosen_port = server.port
            servers.append(server)
    except BaseException:
        for server in servers:
            server.server_close()
        raise
    return servers
