"""``--cert-store DIR``: a directory of PEM and PKCS#12 identities.

This gives Linux (and containers, and CI) what the Windows and macOS stores give their
users: drop renewed identities into one directory and let ``--cert-selector`` plus the
choice policy pick the current one, with no config change at rotation time.

An identity is one of (only regular files directly in DIR, hidden files skipped):

- a PEM file holding a private key and its certificate (plus, optionally, intermediates);
- a PEM/DER certificate file ``NAME.pem|.crt|.cer|.der`` (``NAME-cert.pem`` too) whose key
  is in ``NAME.key``, ``NAME-key.pem``, ``NAME.key.pem`` or ``NAME_key.pem``; failing a
  name match, an unencrypted key file in DIR whose public key equals the certificate's;
- a PKCS#12 file ``*.p12`` / ``*.pfx`` (password from ``--pkcs8-password``).

Certificates after the leaf in the same PEM file, and the extra certificates of a PKCS#12,
are its chain; ``--intermediates`` is added when given. Certificates with no key are not
identities (CA files may sit in the same directory). Keys are opened by the file backend,
so encrypted keys, passwords and error texts are the same as with ``--private-key``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rasign.errors import KeyLoadError

from .base import CertificateStore, StoreEntry, StoreSigner

if TYPE_CHECKING:
    from cryptography import x509

    from rasign.options import SignerOptions
    from rasign.signer import Signer

log = logging.getLogger("rasign")

MAX_FILE_SIZE = 1 << 20
"""Bigger files are not identities (keeps a stray archive from being read)."""

_CERT_LABELS = ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE")
_KEY_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "TSS2 PRIVATE KEY")
_CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der", ".cert")
_PKCS12_SUFFIXES = (".p12", ".pfx")


@dataclass
class _Files:
    """Where one identity's parts are on disk (the entry's ``handle``)."""

    certificate: str
    key: str | None
    """None for PKCS#12 (key inside ``certificate``)."""


@dataclass
class _Scan:
    """What one pass over the directory found, before certificates and keys are paired."""

    entries: list[StoreEntry] = field(default_factory=list)
    cert_files: list[tuple[str, list[x509.Certificate], bool]] = field(default_factory=list)
    """(path, certificates, whether the file holds a key too)."""
    key_files: list[str] = field(default_factory=list)
    used_keys: set[str] = field(default_factory=set)


class DirectoryStore(CertificateStore):
    """Identities found in one directory."""

    def __init__(self, directory: str, options: SignerOptions) -> None:
        # credential_process lines in ~/.aws/config are not run by a shell: expand ~ here.
        directory = os.path.expanduser(directory)
        self.directory = directory
        self.options = options
        self.description = f"directory {directory}"
        self._problems: list[str] = []
        if os.path.isfile(directory):
            raise KeyLoadError(
                f"--cert-store must be a directory, but {directory} is a file",
                hint="pass the directory that holds the identities, or use --certificate/--private-key for one file",
            )
        if not os.path.isdir(directory):
            raise KeyLoadError(
                f"certificate store directory not found: {directory}",
                hint="--cert-store takes a directory of PEM/PKCS#12 identities, or a pkcs11: URI",
            )

    def problems(self) -> list[str]:
        return list(self._problems)

    def entries(self) -> list[StoreEntry]:
        self._problems = []
        scan = _Scan()
        for name, path, data in self._files():
            self._sort_file(scan, name, path, data)
        unpaired = self._pair_by_name(scan)
        self._pair_by_public_key(scan, unpaired)
        return scan.entries

    def _files(self) -> Iterator[tuple[str, str, bytes]]:
        """(name, path, content) of each candidate file: regular, not hidden, not too big, readable."""
        for name in sorted(os.listdir(self.directory)):
            path = os.path.join(self.directory, name)
            if name.startswith(".") or not os.path.isfile(path):
                continue
            try:
                if os.path.getsize(path) > MAX_FILE_SIZE:
                    continue
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError as err:
                self._problems.append(f"{name}: {err.strerror or err}")
                continue
            yield name, path, data

    def _sort_file(self, scan: _Scan, name: str, path: str, data: bytes) -> None:
        """File one file as a PKCS#12 identity, a certificate file or a key file (or a problem)."""
        from rasign import certs

        if name.lower().endswith(_PKCS12_SUFFIXES):
            entry = self._pkcs12_entry(path, data)
            if entry is not None:
                scan.entries.append(entry)
        elif certs.is_pem(data):
            self._sort_pem(scan, name, path, data)
        elif name.lower().endswith(_CERT_SUFFIXES):
            try:
                scan.cert_files.append((path, [certs.parse_certificate_der(data, path)], False))
            except KeyLoadError:
                self._problems.append(f"{name}: not a certificate")

    def _sort_pem(self, scan: _Scan, name: str, path: str, data: bytes) -> None:
        """A PEM file holds certificates (maybe with their key), or only a key."""
        from rasign import certs

        blocks = certs.pem_blocks(data)
        has_key = any(label in _KEY_LABELS for label, _ in blocks)
        try:
            found = [certs.parse_certificate_der(der, path) for label, der in blocks if label in _CERT_LABELS and der]
        except KeyLoadError:
            self._problems.append(f"{name}: a CERTIFICATE block does not parse")
            return
        if found:
            scan.cert_files.append((path, found, has_key))
        elif has_key:
            scan.key_files.append(path)

    def _pair_by_name(self, scan: _Scan) -> list[tuple[str, list[x509.Certificate]]]:
        """Entries for combined files and certificates with a key of a matching name; the rest is returned."""
        keys_by_base = _keys_by_base(scan.key_files)
        unpaired: list[tuple[str, list[x509.Certificate]]] = []
        for path, found, has_key in scan.cert_files:
            if has_key:
                leaf, chain = self._leaf_for_combined(path, found)
                scan.entries.append(self._entry(leaf, chain, path, path))
                continue
            key = _key_by_name(path, keys_by_base)
            if key is None:
                unpaired.append((path, found))
                continue
            scan.used_keys.add(key)
            scan.entries.append(self._entry(found[0], found[1:], path, key))
        return unpaired

    def _pair_by_public_key(self, scan: _Scan, unpaired: list[tuple[str, list[x509.Certificate]]]) -> None:
        """Pair the remaining certificates with a spare key file of the same public key (else: no key)."""
        spare = [key for key in scan.key_files if key not in scan.used_keys]
        for path, found in unpaired:
            key = _key_by_public_key(found[0], spare)
            if key is None:
                log.debug("no private key for certificate %s; not an identity", path)
                scan.entries.append(
                    StoreEntry(
                        found[0], f"file {path}", list(found[1:]), has_private_key=False, handle=_Files(path, None)
                    )
                )
                continue
            spare.remove(key)
            scan.entries.append(self._entry(found[0], found[1:], path, key))

    def open_signer(self, entry: StoreEntry) -> Signer:
        from rasign.backend import backend_named
        from rasign.certs import load_chain_bundle, normalise_chain
        from rasign.options import SignerOptions

        files: _Files = entry.handle
        inner_options = SignerOptions(
            certificate=files.certificate,
            private_key=files.key,
            pkcs8_password=self.options.pkcs8_password,
            interactive=self.options.interactive,
        )
        inner = backend_named("file").open(inner_options)
        if not _same_key(entry.certificate, inner.public_key()):
            inner.close()
            raise KeyLoadError(
                f"the key for {entry.where} does not match the certificate the selector chose",
                hint="put the leaf certificate first in the file, or keep each identity in its own files",
            )
        chain = list(entry.chain)
        if self.options.intermediates:
            chain += load_chain_bundle(self.options.intermediates)
        return StoreSigner(inner, entry.certificate, normalise_chain(entry.certificate, chain), entry.where)

    def _entry(
        self, leaf: x509.Certificate, chain: list[x509.Certificate], cert_path: str, key_path: str
    ) -> StoreEntry:
        where = f"file {cert_path}" if cert_path == key_path else f"file {cert_path} (key {os.path.basename(key_path)})"
        return StoreEntry(leaf, where, list(chain), handle=_Files(cert_path, key_path))

    def _leaf_for_combined(
        self, path: str, found: list[x509.Certificate]
    ) -> tuple[x509.Certificate, list[x509.Certificate]]:
        """In a key + certificates file the leaf is the certificate of the key (first otherwise).

        The key is parsed only when the file holds several certificates: listing a large
        store must not cost a private-key load per identity.
        """
        if len(found) == 1:
            return found[0], []
        key = _public_key_of_plain_key_file(path)
        if key is not None:
            for index, cert in enumerate(found):
                if _same_key(cert, key):
                    return cert, found[:index] + found[index + 1 :]
        return found[0], found[1:]

    def _pkcs12_entry(self, path: str, data: bytes) -> StoreEntry | None:
        from cryptography.hazmat.primitives.serialization import pkcs12

        passwords: list[bytes | None] = [None, b""]
        if self.options.pkcs8_password:
            passwords.append(self.options.pkcs8_password.encode("utf-8"))
        for password in passwords:
            try:
                bundle = pkcs12.load_pkcs12(data, password)
            except (ValueError, TypeError):
                continue
            if bundle.cert is None:
                self._problems.append(f"{os.path.basename(path)}: PKCS#12 without a certificate")
                return None
            extra = [item.certificate for item in bundle.additional_certs]
            return StoreEntry(
                bundle.cert.certificate,
                f"file {path}",
                extra,
                has_private_key=bundle.key is not None,
                handle=_Files(path, None),
            )
        self._problems.append(
            f"{os.path.basename(path)}: PKCS#12 could not be opened"
            + (
                " with the --pkcs8-password given"
                if self.options.pkcs8_password
                else " (pass its password with --pkcs8-password)"
            )
        )
        return None


def _base_name(path: str, suffixes: tuple[str, ...], markers: tuple[str, ...]) -> str:
    name = os.path.basename(path)
    lowered = name.lower()
    for suffix in suffixes:
        if lowered.endswith(suffix):
            name = name[: -len(suffix)]
            lowered = name.lower()
            break
    for marker in markers:
        if lowered.endswith(marker):
            return name[: -len(marker)]
    return name


def _key_by_name(cert_path: str, keys_by_base: dict[str, str]) -> str | None:
    return keys_by_base.get(_base_name(cert_path, _CERT_SUFFIXES, ("-cert", "_cert", ".cert", "-crt", ".crt")))


def _keys_by_base(key_files: list[str]) -> dict[str, str]:
    """Key files by the stem they pair with (first file wins, in name order)."""
    found: dict[str, str] = {}
    for key in key_files:
        found.setdefault(_base_name(key, (".pem", ".key", ".der"), ("-key", "_key", ".key")), key)
    return found


def _key_by_public_key(cert: x509.Certificate, key_files: list[str]) -> str | None:
    for key in key_files:
        public = _public_key_of_plain_key_file(key)
        if public is not None and _same_key(cert, public):
            return key
    return None


def _public_key_of_plain_key_file(path: str) -> object | None:
    """Public key of an unencrypted PEM key file; None when encrypted or unreadable."""
    from cryptography.hazmat.primitives import serialization

    try:
        with open(path, "rb") as handle:
            data = handle.read()
        if b"ENCRYPTED" in data or b"TSS2 PRIVATE KEY" in data:
            return None
        return serialization.load_pem_private_key(data, password=None).public_key()
    except (OSError, ValueError, TypeError):
        return None
    except Exception:  # noqa: BLE001 - unsupported key types simply do not pair
        return None


def _same_key(cert: x509.Certificate, public_key: object) -> bool:
    from rasign.certs import key_matches_certificate

    return key_matches_certificate(public_key, cert)
