"""The file backend: a certificate and a private key that live in ordinary files.

Inputs (see ``backends/file_keys.py`` for every key encoding):

- ``--certificate cert.pem`` + ``--private-key key.pem``: PEM or DER certificate, a
  full-chain PEM (leaf first), optional ``--intermediates`` bundle.
- ``--certificate bundle.p12`` alone, or ``--private-key bundle.p12`` alone: PKCS#12;
  the leaf is the certificate matching the key and the chain is the other certificates,
  leaf excluded (the Go helper repeats the leaf in ``X-Amz-X509-Chain``).
- ``--private-key combined.pem`` (or ``--certificate combined.pem``) alone: one PEM
  holding the key and its certificate(s).
- ``--private-key key.pem`` alone: a signer without a certificate, enough for
  ``sign-string``; commands that need a certificate refuse it themselves.
- ``env:NAME`` in place of either path: the PEM (or base64 DER/PKCS#12) comes from an
  environment variable, so a container need not write its key to disk.

Unlike the Go helper, :meth:`FileBackend.open` proves that the key belongs to the
certificate (by comparing public keys) before anything is signed, so a mismatch is one
clear local error instead of "invalid signature" from the service. Files are read on
every ``open()``: ``serve``/``update`` call it per refresh and so pick up rotated files.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rasign.backend import Backend
from rasign.backends.file_keys import (
    Passwords,
    is_pkcs12,
    load_pkcs12,
    load_private_key,
    pem_key_present,
)
from rasign.backends.file_sources import (
    certificates_from_bytes,
    describe_source,
    read_source,
)
from rasign.errors import KeyLoadError, SigningError, UsageError
from rasign.signer import DIGESTS, Identity, KeyKind, Signer, key_kind_of

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from rasign.options import SignerOptions

log = logging.getLogger("rasign")

SUPPORTED_CURVES = ("secp256r1", "secp384r1", "secp521r1")
"""EC curves Roles Anywhere accepts (P-256, P-384, P-521)."""

PKCS12_WITH_INTERMEDIATES = (
    "can't specify certificate chain when using PKCS#12 files; certificate bundle should be provided"
    " within the PKCS#12 file"
)
"""The Go helper's exact text (reference-helper.md section 2, step 3)."""


class FileSigner(Signer):
    """Signs with a software key held in memory (RSA PKCS#1 v1.5, ECDSA DER, ML-DSA)."""

    backend_name = "file"

    def __init__(
        self,
        key: Any,
        certificate: x509.Certificate | None,
        chain: list[x509.Certificate],
        *,
        source: str,
        encoding: str,
    ) -> None:
        self._key = key
        self._public = key.public_key()
        self._kind = key_kind_of(self._public)
        self._certificate = certificate
        self._chain = list(chain)
        self._source = source
        self._encoding = encoding

    @property
    def key_kind(self) -> KeyKind:
        """RSA, EC or MLDSA, from the key itself (never from the certificate)."""
        return self._kind

    def public_key(self) -> PublicKeyTypes:
        """Public half of the loaded private key."""
        return self._public  # type: ignore[no-any-return]

    def sign(self, message: bytes, digest: str = "SHA256") -> bytes:
        """Sign ``message``: PKCS#1 v1.5 or DER ECDSA over ``digest``; pure ML-DSA ignores it."""
        if self._key is None:
            raise SigningError("the file signer was closed")
        if digest not in DIGESTS:
            raise SigningError(f"unsupported hash algorithm {digest!r}", hint=f"use one of {', '.join(DIGESTS)}")
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding

        algorithm: hashes.HashAlgorithm = {
            "SHA256": hashes.SHA256(),
            "SHA384": hashes.SHA384(),
            "SHA512": hashes.SHA512(),
        }[digest]
        try:
            if self._kind is KeyKind.RSA:
                return self._key.sign(message, padding.PKCS1v15(), algorithm)  # type: ignore[no-any-return]
            if self._kind is KeyKind.EC:
                return self._key.sign(message, ec.ECDSA(algorithm))  # type: ignore[no-any-return]
            # ML-DSA: pure mode over the raw message with an empty context, as Roles
            # Anywhere verifies it; the digest does not apply.
            return self._key.sign(message)  # type: ignore[no-any-return]
        except (ValueError, TypeError) as err:
            raise SigningError(f"signing with the {self.describe()} failed: {err}") from err

    def close(self) -> None:
        """Forget the private key. Safe to call twice."""
        self._key = None

    def describe(self) -> str:
        """Backend, key type and size/curve, and the file it came from (never key material)."""
        return f"file {_key_label(self._public)} key ({self._encoding}) from {self._source}"


class FileBackend(Backend):
    """Backend for keys and certificates in files (PEM, DER, PKCS#8, PKCS#12).

    Reopened at every refresh so rotated certificate and key files are picked up.
    """

    name = "file"
    reopen_each_refresh = True

    @classmethod
    def open(cls, options: SignerOptions) -> FileSigner:
        """Read the files now and return a signer whose key matches its certificate."""
        passwords = Passwords(options.pkcs8_password, interactive=options.interactive)
        key_path, cert_path = options.private_key, options.certificate
        if not key_path and not cert_path:
            raise UsageError(
                "no certificate or private key given",
                hint="pass --certificate and --private-key, or a PKCS#12 file as --certificate",
            )
        key_data, cert_data = _read_given(key_path, "private key"), _read_given(cert_path, "certificate")
        if cert_path and cert_data is not None and is_pkcs12(cert_data):
            if key_path and key_path != cert_path:
                raise UsageError(
                    f"the certificate file {cert_path} is PKCS#12 and brings its own private key",
                    hint="drop --private-key, or pass the certificate as PEM/DER",
                )
            return cls._from_pkcs12(cert_path, cert_data, options, passwords)
        if key_path and key_data is not None:
            if not is_pkcs12(key_data):
                return cls._from_key_file(key_path, key_data, cert_path, cert_data, options, passwords)
            if cert_path:  # a PKCS#12 key with a separate certificate file
                return cls._from_key_file(
                    key_path, key_data, cert_path, cert_data, options, passwords, key_is_pkcs12=True
                )
            return cls._from_pkcs12(key_path, key_data, options, passwords)
        assert cert_path is not None and cert_data is not None
        return cls._from_certificate_file(cert_path, cert_data, options, passwords)

    @classmethod
    def _from_certificate_file(
        cls, cert_path: str, cert_data: bytes, options: SignerOptions, passwords: Passwords
    ) -> FileSigner:
        """Only --certificate: the Go helper then reads the key from the same file."""
        if not pem_key_present(cert_data):
            raise UsageError(
                f"no private key given, and the certificate file {cert_path} holds none",
                hint="pass --private-key, or a PKCS#12 or combined key+certificate file",
            )
        return cls._from_key_file(cert_path, cert_data, cert_path, cert_data, options, passwords)

    @classmethod
    def list_identities(cls, options: SignerOptions) -> list[Identity]:
        """The certificate given on the command line, as one identity."""
        path = options.certificate or options.private_key
        if not path:
            raise UsageError("no certificate given", hint="pass --certificate")
        data = read_source(path, "certificate")
        if is_pkcs12(data):
            passwords = Passwords(options.pkcs8_password, interactive=options.interactive)
            leaf = load_pkcs12(data, path, passwords).leaf
            return [Identity(certificate=leaf, where=describe_source(path), has_private_key=True)]
        if not options.certificate:
            loaded = load_private_key(data, path, Passwords(options.pkcs8_password, interactive=options.interactive))
            if not loaded.certificates:
                raise UsageError(f"the key file {path} holds no certificate", hint="pass --certificate")
            return [Identity(certificate=loaded.certificates[0], where=describe_source(path), has_private_key=True)]
        leaf = certificates_from_bytes(data, path)[0]
        has_key = bool(options.private_key) or pem_key_present(data)
        return [Identity(certificate=leaf, where=describe_source(path), has_private_key=has_key)]

    @classmethod
    def _from_pkcs12(cls, path: str, data: bytes, options: SignerOptions, passwords: Passwords) -> FileSigner:
        if options.intermediates:
            raise UsageError(PKCS12_WITH_INTERMEDIATES, hint="drop --intermediates")
        from rasign.certs import normalise_chain

        contents = load_pkcs12(data, path, passwords)
        _check_key_type(contents.key, path)
        chain = normalise_chain(contents.leaf, contents.others)
        return FileSigner(contents.key, contents.leaf, chain, source=path, encoding="PKCS#12")

    @classmethod
    def _from_key_file(
        cls,
        key_path: str,
        key_data: bytes,
        cert_path: str | None,
        cert_data: bytes | None,
        options: SignerOptions,
        passwords: Passwords,
        *,
        key_is_pkcs12: bool = False,
    ) -> FileSigner:
        from rasign.certs import load_chain_bundle, normalise_chain

        if key_is_pkcs12:
            key = load_pkcs12(key_data, key_path, passwords).key
            encoding, bundled = "PKCS#12", []
        else:
            loaded = load_private_key(key_data, key_path, passwords)
            key, encoding, bundled = loaded.key, loaded.encoding, loaded.certificates
        _check_key_type(key, key_path)
        certificate: x509.Certificate | None
        if cert_path and cert_data is not None and cert_path != key_path:
            certificates = certificates_from_bytes(cert_data, cert_path)
            extra = load_chain_bundle(options.intermediates) if options.intermediates else []
            certificate, chain = certificates[0], normalise_chain(certificates[0], certificates[1:] + extra)
        elif bundled:
            extra = load_chain_bundle(options.intermediates) if options.intermediates else []
            certificate, chain = bundled[0], normalise_chain(bundled[0], bundled[1:] + extra)
        else:
            if options.intermediates:
                raise UsageError("--intermediates needs a certificate", hint="pass --certificate too")
            certificate, chain = None, []
        if certificate is not None:
            _check_key_matches(key, certificate, key_path, cert_path or key_path)
        signer = FileSigner(key, certificate, chain, source=key_path, encoding=encoding)
        log.debug("loaded %s", signer.describe())
        return signer


def _read_given(path: str | None, what: str) -> bytes | None:
    """The bytes of an input that was given (a file or ``env:NAME``); None for one that was not."""
    return read_source(path, what) if path else None


def _check_key_type(key: Any, path: str) -> None:
    """Refuse key types and curves Roles Anywhere cannot verify, at load time."""
    from cryptography.hazmat.primitives.asymmetric import ec

    public = key.public_key()
    try:
        key_kind_of(public)
    except KeyLoadError as err:
        raise KeyLoadError(
            f"unsupported private key type {_key_label(public)} in {path}",
            hint="Roles Anywhere accepts RSA, EC (P-256/P-384/P-521) and ML-DSA keys",
        ) from err
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name not in SUPPORTED_CURVES:
        raise KeyLoadError(
            f"unsupported EC curve {public.curve.name} for the private key in {path}",
            hint="Roles Anywhere accepts P-256, P-384 and P-521 keys",
        )


def _check_key_matches(key: Any, certificate: x509.Certificate, key_path: str, cert_path: str) -> None:
    from rasign.certs import key_matches_certificate

    if not key_matches_certificate(key.public_key(), certificate):
        subject = certificate.subject.rfc4514_string() or "<empty subject>"
        raise KeyLoadError(
            f"the private key in {key_path} does not match the certificate in {cert_path} ({subject})",
            hint="pass the key the certificate was issued for, or that key's certificate",
        )


def _key_label(public: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(public, rsa.RSAPublicKey):
        return f"RSA-{public.key_size}"
    if isinstance(public, ec.EllipticCurvePublicKey):
        return {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(
            public.curve.name, public.curve.name
        )
    return type(public).__name__.replace("PublicKey", "").replace("MLDSA", "ML-DSA-")
