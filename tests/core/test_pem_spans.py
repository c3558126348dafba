"""pem_spans finds exactly the blocks the old regular expression found, in linear time."""

from __future__ import annotations

import random
import re

from rasign.certs import pem_spans

_REGEX = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
PIECES = [
    b"-----BEGIN CERTIFICATE-----\n",
    b"-----BEGIN A-----\r\n",
    b"-----END CERTIFICATE-----",
    b"-----END A-----",
    b"-----BEGIN  -----\n",
    b"MIIB",
    b"\n",
    b"x",
    b"-----",
    b"BEGIN ",
    b"-----END B-----",
    b"-----BEGIN B-----\n",
]


def test_same_blocks_as_the_regular_expression():
    rng = random.Random(3)
    for _ in range(3000):
        data = b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 12)))
        expected = [(m.group(1).decode(), m.start(), m.start(2), m.end(2), m.end()) for m in _REGEX.finditer(data)]
        assert list(pem_spans(data)) == expected, data
