"""Listening sockets for ``rasign serve``: TCP on IPv4/IPv6 and unix sockets.

Defaults are loopback only (``127.0.0.1`` and ``::1``). A non-loopback address is a
deliberate choice (``--allow-non-loopback``) and then needs an auth token, because
anything that can reach the port could otherwise walk away with the role's credentials.
``--listen unix:PATH`` alone gives a unix socket and no TCP port at all.

Every accepted TCP connection gets the IP TTL / IPv6 hop limit from ``--hop-limit``;
with 1, a response cannot cross a router (EC2's IMDS uses the same trick against
containers forwarding requests). Every accepted unix connection has its peer's uid
checked with ``SO_PEERCRED``: the socket file's mode is one fence, the kernel's word on
who connected is the second, and the only one that holds when the file's mode or its
directory is looser than intended.

Each listener also knows which ``Host`` values name it, the defence against DNS
rebinding (see :mod:`rasign.serve.handler`).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from rasign.errors import StoreError, UsageError
from rasign.peercred import peer_uid

log = logging.getLogger("rasign.serve")

UNIX_PREFIX = "unix:"


@dataclass(frozen=True)
class ListenSpec:
    """One address to listen on: ``host``/``port`` for TCP, or ``path`` for a unix socket."""

    host: str
    port: int
    explicit: bool = True
    """False for the built-in defaults: an unavailable ``::1`` is then only a warning."""
    path: str | None = None

    @property
    def is_unix(self) -> bool:
        return self.path is not None

    @property
    def family(self) -> int:
        if self.path is not None:
            return socket.AF_UNIX
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def display(self, port: int | None = None) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        shown = self.port if port is None else port
        return f"[{self.host}]:{shown}" if ":" in self.host else f"{self.host}:{shown}"

    def is_loopback(self) -> bool:
        if self.path is not None:
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"

    def is_wildcard(self) -> bool:
        return self.path is None and self.host in ("0.0.0.0", "::")


def parse_listen(text: str) -> ListenSpec:
    """``127.0.0.1:9911``, ``[::1]:9911``, ``0.0.0.0:80``, ``:9911`` (all IPv4), ``9911`` or ``unix:PATH``."""
    value = text.strip()
    if value.startswith(UNIX_PREFIX):
        path = value[len(UNIX_PREFIX) :]
        if not path:
            raise UsageError(f"invalid --listen address {text!r}", hint="use unix:/path/to/socket")
        return ListenSpec("", 0, path=os.path.abspath(path))
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
        raise UsageError(
            f"invalid --listen address {text!r}", hint="use ADDR:PORT, e.g. 127.0.0.1:9911 or [::1]:9911, or unix:PATH"
        )
    if host == "localhost":
        host = "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError as err:
        raise UsageError(f"invalid --listen address {text!r}: {host!r} is not an IP address") from err
    if not port_text.isdigit() or not port_text.isascii() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"invalid --listen port in {text!r}", hint="ports are 0..65535 (0 = pick a free one)")
    return ListenSpec(host, int(port_text))


def default_specs(port: int) -> list[ListenSpec]:
    """127.0.0.1 and ::1 on ``port``."""
    return [ListenSpec("127.0.0.1", port, explicit=False), ListenSpec("::1", port, explicit=False)]


@dataclass
class Listener:
    """A bound, listening, non-blocking socket and the rules for connections it accepts."""

    sock: socket.socket
    spec: ListenSpec
    port: int
    hop_limit: int = 64
    allowed_hosts: frozenset[str] = frozenset()
    """Lower-case ``Host`` values that name this listener (empty for unix sockets: any is fine)."""
    allowed_uids: frozenset[int] = frozenset()
    """Unix sockets: peer uids accepted besides this process's own uid and root."""

    @property
    def is_unix(self) -> bool:
        return self.spec.is_unix

    def display(self) -> str:
        return self.spec.display(self.port)

    def host_allowed(self, host: str, local_authority: str | None) -> bool:
        """True when ``host`` (the request's Host header) names this listener."""
        if self.is_unix:
            return True
        value = host.lower()
        if value in self.allowed_hosts:
            return True
        return self.spec.is_wildcard() and local_authority is not None and value == local_authority

    def prepare(self, conn: socket.socket) -> None:
        """Per-connection socket options: hop limit and no Nagle delay for TCP."""
        if self.is_unix:
            return
        if self.spec.family == socket.AF_INET6:
            conn.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, self.hop_limit)
        else:
            conn.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, self.hop_limit)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def peer_allowed(self, conn: socket.socket) -> tuple[bool, int | None]:
        """Unix sockets: (accepted?, peer uid) from SO_PEERCRED. TCP peers pass here."""
        if not self.is_unix:
            return True, None
        try:
            uid = peer_uid(conn)
        except OSError:
            return False, None  # the kernel would not say who it is: refused, never waved through
        if uid is None:
            return True, None  # no SO_PEERCRED on this platform: the 0600 socket file is the fence
        return uid in (os.geteuid(), 0) or uid in self.allowed_uids, uid

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            if self.spec.path is not None:
                try:
                    if stat.S_ISSOCK(os.lstat(self.spec.path).st_mode):
                        os.unlink(self.spec.path)
                except OSError:
                    pass


def is_loopback(address: object) -> bool:
    """True for 127/8, ::1, IPv4-mapped loopback and unix-socket peers."""
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX: the peer passed SO_PEERCRED and the socket file's permissions
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


def authorities(host: str, port: int) -> set[str]:
    """The Host header spellings of ``host`` at ``port`` (the port may be left out for 80)."""
    name = host.lower()
    bracketed = f"[{name}]" if ":" in name and not name.startswith("[") else name
    found = {f"{bracketed}:{port}"}
    if port == 80:
        found.add(bracketed)
    return found


def allowed_hosts_for(spec: ListenSpec, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """Loopback names and the configured address at ``port``, plus ``--allow-host`` names."""
    names: set[str] = set()
    # A wildcard address is not a name anyone connects to; the address a connection really
    # arrived on is accepted instead (Listener.host_allowed).
    configured = "" if spec.is_wildcard() else spec.host
    for host in ("localhost", "127.0.0.1", "::1", configured, *extra):
        if not host:
            continue
        if "]:" in host or (host.count(":") == 1 and host.rsplit(":", 1)[1].isdigit()):
            names.add(host.lower())  # --allow-host already carries a port
        else:
            names |= authorities(host.strip("[]"), port)
    return frozenset(names)


def open_tcp(
    specs: list[ListenSpec], hop_limit: int, extra_hosts: Iterable[str] = (), backlog: int = 512
) -> list[Listener]:
    """Bind every TCP spec; a default ``::1`` that cannot be bound is skipped with a warning.

    With port 0 on the default pair, ``::1`` reuses the port picked for IPv4 so one port
    number describes the service.
    """
    extra = tuple(extra_hosts)
    listeners: list[Listener] = []
    chosen_port: int | None = None
    try:
        for spec in specs:
            if not spec.explicit and spec.port == 0 and chosen_port is not None:
                spec = ListenSpec(spec.host, chosen_port, explicit=False)
            try:
                sock = _bind_tcp(spec, backlog)
            except OSError as err:
                if not spec.explicit and spec.family == socket.AF_INET6:
                    log.warning("not listening on %s: %s", spec.display(), err.strerror or err)
                    continue
                raise StoreError(
                    f"failed to create listener on {spec.display()}: {err.strerror or err}",
                    hint="pick another --port/--listen or stop the program using it",
                ) from err
            port = int(sock.getsockname()[1])
            if not spec.explicit and chosen_port is None:
                chosen_port = port
            listeners.append(Listener(sock, spec, port, hop_limit, allowed_hosts_for(spec, port, extra)))
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    return listeners


def _bind_tcp(spec: ListenSpec, backlog: int) -> socket.socket:
    sock = socket.socket(spec.family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if spec.family == socket.AF_INET6 and hasattr(socket, "IPV6_V6ONLY"):
            # ::1 and 127.0.0.1 are separate listeners; never grab IPv4 through IPv6.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((spec.host, spec.port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def open_unix(path: str, allowed_uids: Iterable[int] = (), backlog: int = 512) -> Listener:
    """Bind a unix socket at ``path``: mode 0600, or 0666 when other uids are allowed by SO_PEERCRED."""
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise StoreError(
            f"cannot create the unix socket {path}: the directory {directory} does not exist",
            hint="create the directory or choose another --unix-socket path",
        )
    _remove_stale_socket(path)
    uids = frozenset(allowed_uids)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        sock.bind(path)
        os.chmod(path, 0o666 if uids else 0o600)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as err:
        sock.close()
        reason = (
            "the path is too long"
            if isinstance(err, OSError) and "too long" in str(err)
            else (err.strerror or str(err))
        )
        raise StoreError(
            f"cannot create the unix socket {path}: {reason}", hint="choose another --unix-socket path"
        ) from err
    finally:
        os.umask(old_umask)
    return Listener(sock, ListenSpec("", 0, path=path), 0, allowed_uids=uids)


def _remove_stale_socket(path: str) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as err:
        raise StoreError(f"cannot use {path} for the unix socket: {err.strerror or err}") from err
    if not stat.S_ISSOCK(info.st_mode):
        raise StoreError(f"{path} exists and is not a socket", hint="remove it or choose another --unix-socket path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError as err:
        if err.errno in (errno.ECONNREFUSED, errno.ENOENT):
            os.unlink(path)  # nobody listening: a leftover from a crash
            return
        raise StoreError(f"cannot use {path} for the unix socket: {err.strerror or err}") from err
    finally:
        probe.close()
    raise StoreError(f"another server is already listening on {path}")
