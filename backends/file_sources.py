"""Where the file backend's bytes come from: a path, or an environment variable.

``--certificate`` and ``--private-key`` normally name files. ``env:NAME`` instead takes
the content of environment variable NAME, for containers and CI jobs that inject a PEM
as a secret and should not have to write the key to disk (users ask for this in
rolesanywhere-credential-helper#187). The value is PEM text, or base64 of DER/PKCS#12
(environment variables cannot hold binary). A real file literally named ``env:...``
still wins, so no existing path changes meaning.

Each source is read exactly once per ``open()``: the certificate bytes parsed here are
the ones the key was checked against, even if the file is replaced meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import TYPE_CHECKING

from rasign.errors import KeyLoadError

if TYPE_CHECKING:
    from cryptography import x509

ENV_PREFIX = "env:"


def is_env_source(spec: str) -> bool:
    """True for ``env:NAME`` specs that do not name an existing file."""
    return spec.startswith(ENV_PREFIX) and not os.path.exists(spec)


def describe_source(spec: str) -> str:
    """How ``read-certificate-data`` names the source: "file PATH" or "environment variable NAME"."""
    if is_env_source(spec):
        return f"environment variable {spec[len(ENV_PREFIX) :]}"
    return f"file {spec}"


def read_source(spec: str, what: str) -> bytes:
    """The bytes behind ``--certificate``/``--private-key``: a file or ``env:NAME``."""
    if not is_env_source(spec):
        from rasign.certs import read_bytes

        return read_bytes(spec, what)
    name = spec[len(ENV_PREFIX) :]
    if not name:
        raise KeyLoadError(f"{what} {spec!r} names no environment variable", hint="use env:VARIABLE_NAME")
    value = os.environ.get(name)
    if not value:
        raise KeyLoadError(
            f"environment variable {name} (from {what} {spec}) is not set or empty",
            hint=f"export {name} with the PEM text, or pass a file path",
        )
    data = value.encode("utf-8", "surrogateescape")  # the variable's bytes, even if not UTF-8
    if b"-----BEGIN " in data:
        return data
    try:
        return base64.b64decode("".join(value.split()).encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as err:
        raise KeyLoadError(
            f"environment variable {name} (from {what} {spec}) holds neither PEM text nor base64",
            hint="put the PEM text in it, or base64 of the DER/PKCS#12 bytes",
        ) from err


def certificates_from_bytes(data: bytes, source: str, what: str = "certificate") -> list[x509.Certificate]:
    """Every certificate in PEM or DER bytes, in order (at least one); see ``rasign.certs``."""
    from rasign.certs import certificates_from_bytes as parse

    return parse(data, source, what)
