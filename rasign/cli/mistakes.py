"""Name the usual ``credential_process`` mistakes instead of reporting their symptoms.

The AWS CLI and SDKs split a ``credential_process`` line like a POSIX shell but run it
without one, from whatever directory they were started in. Lines that work when typed
then fail in ways whose first error ("unrecognized arguments", "file not found", "unable to
parse private key") hides the cause. This module recognises them:

- a backslash line continuation: configparser keeps the newline, so an argument arrives as
  ``'\\n--private-key'`` (or a lone ``'\\'`` on Windows);
- ``~`` (never expanded: there is no shell) and relative paths (the working directory is
  the caller's, not ``~/.aws``);
- quotes that became part of a path;
- ``--certificate`` and ``--private-key`` swapped, or one of them given the other's file;
- a CA certificate given as the leaf.

The first three are checked before anything else runs (standard library only: this is on
the cache-hit path of ``credential-process``). The last two are diagnosed only after a key
or certificate error, so a working command never pays for them.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rasign.errors import CertificateError, ConfigError, KeyLoadError, RasignError, UsageError

if TYPE_CHECKING:
    from cryptography import x509

PATH_FLAGS: dict[str, type[RasignError]] = {
    "certificate": KeyLoadError,
    "private_key": KeyLoadError,
    "intermediates": KeyLoadError,
    "pkcs11_pin_file": KeyLoadError,
    "pkcs11_context_pin_file": KeyLoadError,
    "ca_bundle": ConfigError,
    "cert_store": ConfigError,
}
"""Destinations whose value is a local file (or directory) that must already exist."""

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
_CONTINUATION_HINT = (
    "put the whole credential_process command on one line, or continue it on indented lines without the backslash"
)


def check_line_continuations(argv: Sequence[str]) -> None:
    """Refuse arguments that only a backslash-newline in ``~/.aws/config`` produces."""
    for token in argv:
        if token == "--":
            break  # what follows is another program's arguments (rasign exec -- COMMAND ...)
        if token.startswith(("\n", "\r\n", "\\\n", "\\\r\n")) or token == "\\":
            raise UsageError(
                f"argument {token!r} comes from a backslash line continuation (the line break reached rasign)",
                hint=_CONTINUATION_HINT,
            )


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _is_local_path(value: object) -> bool:
    return isinstance(value, str) and bool(value) and value != "-" and not _SCHEME.match(value)


def check_paths(args: argparse.Namespace) -> None:
    """Explain a missing file named with ``~``, a relative path or stray quotes."""
    for dest, error in PATH_FLAGS.items():
        value = getattr(args, dest, None)
        if not isinstance(value, str) or not _is_local_path(value) or os.path.exists(value):
            continue
        flag = _flag(dest)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            raise UsageError(
                f"{flag} {value} has quotes around it that became part of the path",
                hint="quote the value once, or not at all when it has no spaces",
            )
        if value.startswith("~"):
            expanded = os.path.expanduser(value)
            hint = f"use the absolute path {expanded}" if expanded != value else "use the absolute path"
            raise error(
                f"{flag} {value} does not exist: '~' is not expanded when the AWS CLI runs credential_process "
                "(there is no shell)",
                hint=hint,
            )
        if not os.path.isabs(value):
            raise error(
                f"{flag} {value} does not exist in the current directory {os.getcwd()}: the AWS CLI runs "
                "credential_process from the directory it was started in, not from ~/.aws",
                hint=f"use the absolute path of {os.path.basename(value)}",
            )


def _pem_labels(data: bytes) -> list[str]:
    return [label.decode("ascii") for label in re.findall(rb"-----BEGIN ([A-Z0-9 ]+)-----", data)]


def sniff(path: object) -> str | None:
    """What a local file holds: "certificate", "ca-certificate", "private-key" or None."""
    if not _is_local_path(path):
        return None
    from rasign.localfile import NotReadable, read_regular

    try:
        # never blocks: a FIFO or device given as a path is the backend's to refuse, in one line
        data = read_regular(str(path), limit=1 << 20, head=True)
    except NotReadable:
        return None
    labels = _pem_labels(data)
    has_key = any(label.endswith("PRIVATE KEY") for label in labels)
    has_cert = any(label in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE") for label in labels)
    if has_key and not has_cert:
        return "private-key"
    if has_cert:
        return "ca-certificate" if _all_ca(data) else "certificate"
    if not labels:
        return _sniff_der(data)
    return None


def _all_ca(data: bytes) -> bool:
    from cryptography import x509

    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        return False
    return bool(certificates) and all(_is_ca(cert) for cert in certificates)


def _is_ca(certificate: x509.Certificate) -> bool:
    from cryptography import x509

    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _sniff_der(data: bytes) -> str | None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        return "ca-certificate" if _is_ca(x509.load_der_x509_certificate(data)) else "certificate"
    except ValueError:
        pass
    try:
        serialization.load_der_private_key(data, None)
        return "private-key"
    except TypeError:  # encrypted: still a key
        return "private-key"
    except Exception:  # noqa: BLE001 - unsupported algorithms raise their own types
        return None


def diagnose(args: argparse.Namespace) -> RasignError | None:
    """After a key or certificate error: the mistake behind it, or None when none is known."""
    certificate, key = getattr(args, "certificate", None), getattr(args, "private_key", None)
    cert_kind, key_kind = sniff(certificate), sniff(key)
    if cert_kind == "private-key" and key_kind in ("certificate", "ca-certificate"):
        return KeyLoadError(
            f"--certificate and --private-key are swapped: {certificate} holds a private key and {key} a certificate",
            hint="swap the two values",
        )
    if cert_kind == "private-key":
        return KeyLoadError(
            f"--certificate {certificate} holds a private key, not a certificate",
            hint="pass the certificate file to --certificate and the key file to --private-key",
        )
    if key_kind in ("certificate", "ca-certificate"):
        return KeyLoadError(
            f"--private-key {key} holds a certificate, not a private key",
            hint="pass the key file to --private-key and the certificate file to --certificate",
        )
    if cert_kind == "ca-certificate":
        return CertificateError(
            f"--certificate {certificate} holds only CA certificates, not the end-entity (leaf) certificate",
            hint="pass the certificate the CA issued for your key; the CA belongs in the trust anchor "
            "(intermediate CAs in --intermediates)",
        )
    return None
