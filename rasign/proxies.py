"""Which proxy, if any, a request goes through: the environment, read as ``requests`` reads it.

rasign used ``requests`` until its import cost moved the calls onto :mod:`rasign.transport`;
users' proxy settings must keep working unchanged, so the rules are those of
``requests.utils.get_environ_proxies`` + ``select_proxy``:

- ``https_proxy`` for an https URL (``http_proxy`` for http), else ``all_proxy``; the
  lower-case variable wins over the upper-case one, and a set-but-empty lower-case one
  turns the upper-case one off (``urllib.request.getproxies_environment``);
- a proxy URL without a scheme means ``http://``; ``user:password@`` in it becomes
  ``Proxy-Authorization: Basic`` (percent-decoded), never shown anywhere;
- ``no_proxy``/``NO_PROXY``: a comma list, blanks ignored; ``*`` alone bypasses every
  proxy; an entry matches the host itself or, as a domain suffix, any name under it (a
  leading dot changes nothing); ``host:port`` entries match that port only; for an IP
  host, IP and CIDR entries (``10.0.0.0/8``, ``fd00::/8``) are compared as addresses.

One deliberate difference from ``requests``: ``example.com`` does not match
``badexample.com`` (requests compares raw string suffixes; botocore, curl and urllib
compare whole labels, and so does this). An ``https://`` proxy is spoken to over TLS,
verified like the endpoint (same CA bundle), and the endpoint's TLS runs inside that.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from rasign.errors import ConfigError

if TYPE_CHECKING:
    from ipaddress import IPv4Address, IPv6Address


@dataclass(frozen=True)
class Proxy:
    """A proxy; ``authorization`` is the ``Proxy-Authorization`` value, if any (secret).

    ``scheme`` is ``http``, or ``https`` when the connection to the proxy itself is TLS.
    """

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)
    password: str = field(default="", repr=False, compare=False)
    scheme: str = "http"

    @property
    def shown(self) -> str:
        """The proxy as it can be printed: never with its user name or password."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def redact(self, text: str) -> str:
        """``text`` with the proxy password taken out (a proxy may echo what it was sent)."""
        return text.replace(self.password, "***") if self.password else text


def _variable(environ: Mapping[str, str], name: str) -> str | None:
    """``name`` in lower case, else upper case; an empty lower-case value hides the upper-case one."""
    lower = environ.get(name)
    if lower is not None:
        return lower or None
    return environ.get(name.upper()) or None


def proxy_for(scheme: str, host: str, port: int, environ: Mapping[str, str] | None = None) -> Proxy | None:
    """The proxy a request to ``scheme://host:port`` goes through, or None for a direct connection."""
    env = os.environ if environ is None else environ
    url = _variable(env, f"{scheme}_proxy") or _variable(env, "all_proxy")
    if not url or bypassed(host, port, _variable(env, "no_proxy") or ""):
        return None
    return parse_proxy(url)


def parse_proxy(url: str) -> Proxy:
    """An ``http(s)://[user:password@]host[:port]`` proxy URL (no scheme means http; ports 80 and 443 by default)."""
    from rasign.textsafe import clean

    text = url.strip()
    if "://" not in text:
        text = f"http://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    shown = clean(_without_password(text), 200)
    if parts is None or not parts.hostname:
        raise ConfigError(f"the proxy URL {shown} is not valid", hint="set HTTPS_PROXY to http://HOST:PORT")
    host = _wire_host(parts.hostname)
    if host is None:
        raise ConfigError(f"the proxy URL {shown} names no valid host", hint="set HTTPS_PROXY to http://HOST:PORT")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ConfigError(
            f"the proxy {shown} uses the scheme {clean(scheme, 20)}; only http:// and https:// proxies are supported",
            hint="set HTTPS_PROXY to http://HOST:PORT",
        )
    authorization, password = None, ""
    if parts.username is not None or parts.password is not None:
        import base64

        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        from rasign.logs import register_secret

        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        authorization = f"Basic {token}"
        register_secret(password)  # scrubbed from every log line, as a safety net
        register_secret(token)
    return Proxy(host, port or (443 if scheme == "https" else 80), authorization, password, scheme)


def _wire_host(host: str) -> str | None:
    """An IP address as given, else the ASCII form of a DNS name; None for neither."""
    if _address(host) is not None:
        return host
    from rasign.validate import ascii_name

    return ascii_name(host)


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{hostpart}" if ":" in userinfo else f"{scheme}{sep}{user}@{hostpart}"


def bypassed(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``no_proxy`` sends a request for ``host:port`` direct (rules in the module docstring)."""
    entries = [entry.lower() for entry in no_proxy.replace(" ", "").split(",") if entry]
    if entries == ["*"]:
        return True
    host = host.lower().strip("[]").rstrip(".")
    address = _address(host)
    for entry in entries:
        if address is not None and _address_matches(address, entry):
            return True
        if _name_matches(host, port, entry, suffix=address is None):
            return True
    return False


def _name_matches(host: str, port: int, entry: str, *, suffix: bool) -> bool:
    name, _, entry_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
    if entry_port and entry_port != str(port):
        return False
    name = name.strip("[]").lstrip(".").rstrip(".")
    return bool(name) and (host == name or (suffix and host.endswith("." + name)))


def _has_port(entry: str) -> bool:
    """``host:port`` or ``[v6]:port``, as opposed to a bare IPv6 address."""
    if entry.startswith("["):
        return "]:" in entry
    return entry.count(":") == 1


def _looks_like_ip(text: str) -> bool:
    return bool(text) and (":" in text or text.replace(".", "").isdigit())


def _address(host: str) -> IPv4Address | IPv6Address | None:
    """``host`` as an IP address when it is one (``ipaddress`` imported only then)."""
    if not _looks_like_ip(host):
        return None
    import ipaddress

    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _address_matches(address: IPv4Address | IPv6Address, entry: str) -> bool:
    candidate = entry.strip("[]")
    if not _looks_like_ip(candidate.split("/", 1)[0]):
        return False
    import ipaddress

    try:
        network = ipaddress.ip_network(candidate, strict=False)
    except ValueError:
        return False
    return address in network
