"""Seeded random inputs for the option validators: ConfigError or a value the transport accepts.

The exit-70 bugs this module exists for were values a validator let through and urllib3 then
refused (``InvalidURL``). So every URL ``endpoint_url`` accepts must also parse in urllib3
and requests with the same port, and validate to itself again. Standard library ``random``
with a fixed seed (no hypothesis dependency here); ``RASIGN_FUZZ_EXAMPLES`` runs more.
"""

from __future__ import annotations

import os
import random

import pytest

from rasign import validate
from rasign.errors import ConfigError

EXAMPLES = int(os.environ.get("RASIGN_FUZZ_EXAMPLES", "3000"))
PIECES = [
    "https://",
    "http://",
    "HTTPS://",
    "ftp://",
    "://",
    "",
    "127.0.0.1",
    "[::1]",
    "::1",
    "[fe80::1%eth0]",
    "host",
    "bücher.example",
    "a" * 64,
    "-x-",
    "_x",
    ".",
    "..",
    ":",
    ":0",
    ":1",
    ":65535",
    ":65536",
    ":99999",
    ":-1",
    ":+1",
    ":٣",
    ":８",
    "/",
    "/path/",
    "?",
    "?a=b",
    "#",
    "#f",
    "@",
    "user:pw@",
    " ",
    "\t",
    "\n",
    "\x00",
    "\x1b[31m",
    "%20",
    "%",
    "[",
    "]",
    "\udcff",
    "\u202e",
    "\u3000",
    "1e3",
    "0x10",
    "//",
    "\\",
]


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 6)))


def test_endpoint_url_accepts_only_what_the_transport_accepts():
    import requests.models
    from urllib3.util import parse_url

    rng = random.Random(20261201)
    accepted = 0
    for _ in range(EXAMPLES):
        text = _random_text(rng)
        try:
            url = validate.endpoint_url(text)
        except ConfigError as err:
            assert "\n" not in err.one_line() and "\x1b" not in err.one_line()
            continue
        accepted += 1
        assert validate.endpoint_url(url) == url, text
        parsed = parse_url(url + "/sessions")
        requests.models.PreparedRequest().prepare_url(url + "/sessions", {"roleArn": "arn:aws:iam::1:role/r"})
        assert parsed.host and parsed.scheme in ("http", "https"), text
        assert parsed.port is None or 1 <= parsed.port <= 65535, text
    assert accepted > EXAMPLES // 50, "the generator should also produce valid URLs"


@pytest.mark.parametrize(
    "check", [validate.timeout, validate.interval, validate.session_duration, validate.max_attempts, validate.region]
)
def test_number_and_name_validators_raise_only_config_errors(check):
    rng = random.Random(7)
    words = [
        "nan",
        "inf",
        "-inf",
        "1e309",
        "-0",
        "0",
        "1",
        "900",
        "3600.5",
        " 5 ",
        "5s",
        "",
        "+3",
        "１",
        "٣",
        "0x1",
        "9" * 40,
        "us-east-1",
        "-",
        "a-",
        "\x00",
        "\udcff",
        "_",
    ]
    for _ in range(EXAMPLES // 5):
        text = "".join(rng.choice(words) for _ in range(rng.randint(1, 3)))
        try:
            value = check(text)
        except ConfigError as err:
            assert "\n" not in err.one_line()
            continue
        if isinstance(value, float):
            assert value == value and value not in (float("inf"), float("-inf")), text


def test_arn_parser_raises_only_config_errors():
    from rasign.arns import resolve_target

    rng = random.Random(11)
    parts = [
        "arn",
        "aws",
        "aws-cn",
        "aws-typo",
        "",
        "rolesanywhere",
        "iam",
        "us-east-1",
        "US",
        "123456789012",
        "trust-anchor/x",
        "profile/p",
        "role/r",
        ":",
        "::",
        "\x00",
        " ",
        "\udcff",
        "*",
    ]
    for _ in range(EXAMPLES // 3):
        arns = [":".join(rng.choice(parts) for _ in range(rng.randint(1, 7))) for _ in range(3)]
        try:
            resolve_target(*arns, rng.choice([None, "us-east-1", "bad region", ""]) or None)
        except ConfigError as err:
            assert "\n" not in err.one_line()
