"""Which proxy a request goes through: the environment variables, read as requests reads them."""

from __future__ import annotations

import base64

import pytest

from rasign.errors import ConfigError
from rasign.proxies import bypassed, parse_proxy, proxy_for

HOST, PORT = "rolesanywhere.us-east-1.amazonaws.com", 443


@pytest.mark.parametrize(
    "no_proxy, host, port, expected",
    [
        ("", HOST, PORT, False),
        ("*", HOST, PORT, True),
        (" * ", HOST, PORT, True),
        ("amazonaws.com", HOST, PORT, True),
        (".amazonaws.com", HOST, PORT, True),
        ("AMAZONAWS.COM", HOST, PORT, True),
        ("other.com, amazonaws.com", HOST, PORT, True),
        ("other.com,,", HOST, PORT, False),
        (HOST, HOST, PORT, True),
        ("awsamazonaws.com", HOST, PORT, False),
        ("zonaws.com", HOST, PORT, False),  # a whole label, not a string suffix
        ("amazonaws.com:443", HOST, 443, True),
        ("amazonaws.com:8443", HOST, 443, False),
        ("localhost", "localhost", 8443, True),
        ("127.0.0.1", "127.0.0.1", 8443, True),
        ("127.0.0.1:8443", "127.0.0.1", 8443, True),
        ("127.0.0.1:9", "127.0.0.1", 8443, False),
        ("127.0.0.0/8", "127.0.0.1", 8443, True),
        ("10.0.0.0/8", "127.0.0.1", 8443, False),
        ("10.0.0.0/8,127.0.0.1/32", "127.0.0.1", 8443, True),
        ("0.0.1", "127.0.0.1", 8443, False),  # no suffix matching on addresses
        ("::1", "::1", 8443, True),
        ("[::1]", "::1", 8443, True),
        ("[::1]:8443", "::1", 8443, True),
        ("fd00::/8", "fd12::5", 443, True),
        ("fd00::/8", "fe80::1", 443, False),
        ("10.0.0.0/33", "10.0.0.1", 443, False),  # not a network: ignored, never an error
        ("*,example.com", HOST, PORT, False),  # '*' counts only alone, as in requests and curl
    ],
)
def test_no_proxy_matrix(no_proxy, host, port, expected):
    assert bypassed(host, port, no_proxy) is expected


def test_https_proxy_then_all_proxy_lower_case_first():
    assert proxy_for("https", HOST, PORT, {"HTTPS_PROXY": "http://a:1"}).host == "a"
    assert proxy_for("https", HOST, PORT, {"HTTPS_PROXY": "http://a:1", "https_proxy": "http://b:2"}).host == "b"
    assert proxy_for("https", HOST, PORT, {"ALL_PROXY": "http://c:3"}).port == 3
    assert proxy_for("https", HOST, PORT, {"all_proxy": "http://c:3", "HTTPS_PROXY": "http://a:1"}).host == "a"
    assert proxy_for("https", HOST, PORT, {"HTTP_PROXY": "http://d:4"}) is None  # http_proxy is for http URLs
    assert proxy_for("http", HOST, 80, {"HTTP_PROXY": "http://d:4"}).host == "d"


def test_an_empty_lower_case_variable_turns_the_upper_case_one_off():
    assert proxy_for("https", HOST, PORT, {"HTTPS_PROXY": "http://a:1", "https_proxy": ""}) is None


def test_no_proxy_either_case():
    env = {"HTTPS_PROXY": "http://a:1", "NO_PROXY": "amazonaws.com"}
    assert proxy_for("https", HOST, PORT, env) is None
    assert proxy_for("https", HOST, PORT, {"HTTPS_PROXY": "http://a:1", "no_proxy": "*"}) is None


def test_a_proxy_without_scheme_is_http_on_port_80_by_default():
    proxy = parse_proxy("proxy.corp")
    assert (proxy.host, proxy.port, proxy.authorization) == ("proxy.corp", 80, None)
    assert parse_proxy("proxy.corp:3128").port == 3128


def test_credentials_are_percent_decoded_into_basic_auth_and_never_shown():
    proxy = parse_proxy("http://al%40ice:p%3Ass%20w@proxy.corp:3128")
    assert proxy.authorization == "Basic " + base64.b64encode(b"al@ice:p:ss w").decode()
    assert proxy.shown == "http://proxy.corp:3128"
    assert "p:ss" not in repr(proxy) and "Basic" not in repr(proxy)
    assert proxy.redact("echo p:ss w back") == "echo *** back"


def test_an_https_proxy_defaults_to_port_443_and_is_shown_as_such():
    proxy = parse_proxy("https://bob:hunter2@proxy.corp")
    assert (proxy.scheme, proxy.port, proxy.shown) == ("https", 443, "https://proxy.corp:443")
    assert "hunter2" not in repr(proxy)


@pytest.mark.parametrize("url", ["socks5://proxy:1080", "http://:8080", "http://proxy:99999", "ftp://proxy:21"])
def test_unusable_proxy_urls_are_config_errors_without_the_password(url):
    with pytest.raises(ConfigError) as caught:
        parse_proxy(url.replace("://", "://u:hunter2@", 1))
    assert "hunter2" not in caught.value.one_line()


def test_proxy_credentials_are_scrubbed_from_logs_even_if_a_message_held_them():
    from rasign.logs import scrub

    proxy = parse_proxy("http://carol:Zq8-unique-pw@proxy.corp:3128")
    token = proxy.authorization.split()[1]
    assert scrub(f"saw Zq8-unique-pw and {token}") == "saw *** and ***"
    assert scrub("Proxy-Authorization: Basic dXNlcjpvdGhlcnB3") == "Proxy-Authorization: *** ***"
