"""Decode private keys (and PKCS#12 bundles) from files, with strict, specific errors.

Accepted: PEM or DER; PKCS#1 (``RSA PRIVATE KEY``), SEC1 (``EC PRIVATE KEY``), PKCS#8
(``PRIVATE KEY``, including ML-DSA in all three RFC 9881 shapes), encrypted PKCS#8
(``ENCRYPTED PRIVATE KEY``: PBES2 with PBKDF2/scrypt and AES-CBC, and whatever else
cryptography decrypts), legacy OpenSSL encrypted PEM (``Proc-Type: 4,ENCRYPTED``), and
PKCS#12 (legacy 3DES/RC2 and modern AES, with or without a password). A PEM file may also
hold certificates (a "combined" key + certificate file).

Passwords, in order: ``--pkcs8-password``, then ``RASIGN_PKCS8_PASSWORD``, then the file
named by ``RASIGN_PKCS8_PASSWORD_FILE`` (one trailing newline dropped), then ONE prompt on
the controlling terminal when the caller allows it. A wrong password is reported at
once and never retried: the user re-runs with the right one. A password given for a key
that is not encrypted is not an error (a rotated, now-plaintext key keeps working under
``serve``); rasign logs a warning instead, because the Go helper's hard failure there
("unable to parse private key") reads like a corrupt file.

A password typed at the prompt is kept in process memory, keyed by file, so that
``serve``/``update`` can re-read a rotated key without asking again; it is never written
or logged.
"""

from __future__ import annotations

import base64
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rasign.backends.mldsa_keys import is_mldsa_oid, mldsa_key_from_pkcs8_body
from rasign.backends.pkcs8 import (
    DerError,
    DerKind,
    UnsupportedEncryption,
    WrongPassword,
    classify_der,
    decrypt_pbes2,
    pkcs8_algorithm,
)
from rasign.certs import CERTIFICATE_LABELS
from rasign.errors import AuthenticationError, KeyLoadError

if TYPE_CHECKING:
    from cryptography import x509

log = logging.getLogger("rasign")

PASSWORD_ENV = "RASIGN_PKCS8_PASSWORD"
"""Environment variable consulted when ``--pkcs8-password`` is not given."""
PASSWORD_FILE_ENV = "RASIGN_PKCS8_PASSWORD_FILE"
"""Environment variable naming a file that holds the password (keeps it out of argv and env)."""

PARSE_HINT = "pass a PEM or DER private key (PKCS#1, SEC1, PKCS#8 or encrypted PKCS#8) or a PKCS#12 file"
PASSWORD_HINT = f"pass --pkcs8-password, or set {PASSWORD_ENV} or {PASSWORD_FILE_ENV}"

KEY_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY")
FOREIGN_KEY_HINTS = {
    "OPENSSH PRIVATE KEY": "convert it with: ssh-keygen -p -m PKCS8 -f <file>",
    "DSA PRIVATE KEY": "Roles Anywhere accepts RSA, EC and ML-DSA keys, not DSA",
    "TSS2 PRIVATE KEY": "TPM key files are handled by the tpm backend",
    "ENCRYPTED PKCS8 PRIVATE KEY": "re-export it as ENCRYPTED PRIVATE KEY with openssl pkcs8 -topk8",
}

_prompted_passwords: dict[str, bytes] = {}
"""Passwords the user typed and that worked, by real path (memory only, see module doc)."""


class Passwords:
    """The password sources for one ``open()``, consulted lazily.

    Only an encrypted file makes rasign look for a password, so a stray
    ``RASIGN_PKCS8_PASSWORD`` never triggers a prompt or a warning on a plain key.
    """

    def __init__(self, explicit: str | None, *, interactive: bool) -> None:
        self._explicit = explicit if explicit else None
        self._interactive = interactive

    @property
    def explicit(self) -> bool:
        """True when ``--pkcs8-password`` was given (warn if it turns out unneeded)."""
        return self._explicit is not None

    def given(self) -> bytes | None:
        """The non-interactive password (flag, environment, password file), or None."""
        if self._explicit is not None:
            return self._explicit.encode("utf-8", "surrogateescape")  # argv bytes as given
        from rasign.secrets import read_secret_file, secret_from_env

        value = secret_from_env(PASSWORD_ENV)
        if value is None:
            password_file = secret_from_env(PASSWORD_FILE_ENV)
            if password_file is not None:
                value = read_secret_file(password_file, "PKCS#8 password")
        return value.encode("utf-8", "surrogateescape") if value else None

    def obtain(self, path: str, what: str) -> tuple[bytes, bool]:
        """A password to try for ``path``: given, remembered, or asked once.

        Returns ``(password, prompted)``; call :meth:`confirm` after a prompted password
        worked so the next ``open()`` of the same file does not ask again.
        """
        given = self.given()
        if given is not None:
            return given, False
        remembered = _prompted_passwords.get(os.path.realpath(path))
        if remembered is not None:
            return remembered, True
        if not self._interactive:
            from rasign.errors import PromptNeeded

            raise PromptNeeded(
                f"the {what} {path} is encrypted and no password was given", what="PKCS#8 password", hint=PASSWORD_HINT
            )
        from rasign.secrets import prompt_tty

        typed = prompt_tty(
            f"Enter the password for the {what} {path}: ",
            what=f"password for the {what} {path}",
            how_to_avoid=PASSWORD_HINT,
        )
        return typed.encode("utf-8", "surrogateescape"), True

    @staticmethod
    def confirm(path: str, password: bytes) -> None:
        """Remember a typed password that decrypted ``path``."""
        _prompted_passwords[os.path.realpath(path)] = password

    @staticmethod
    def forget(path: str) -> None:
        """Drop a remembered password that no longer works (the file was rotated)."""
        _prompted_passwords.pop(os.path.realpath(path), None)


@dataclass
class LoadedKey:
    """A decoded private key and what else its file held."""

    key: Any
    encoding: str
    """Human name of the encoding ("encrypted PKCS#8", "SEC1", ...) for ``--debug``."""
    certificates: list[x509.Certificate] = field(default_factory=list)
    """Certificates found in the same PEM file (a combined key + certificate file)."""


@dataclass
class Pkcs12Contents:
    """A PKCS#12 bundle split the way Roles Anywhere needs it."""

    key: Any
    leaf: x509.Certificate
    others: list[x509.Certificate]
    """Every other certificate in file order (the leaf is never repeated here)."""


def is_pkcs12(data: bytes) -> bool:
    """True when the bytes are a DER PKCS#12 (PFX) structure."""
    return not _looks_like_pem(data) and classify_der(data) is DerKind.PKCS12


def pem_key_present(data: bytes) -> bool:
    """True when a PEM file holds a private key block rasign can read."""
    return any(label in KEY_LABELS for label, _ in _pem_blocks(data))


def load_private_key(data: bytes, path: str, passwords: Passwords) -> LoadedKey:
    """Decode the one private key in a PEM or DER key file."""
    if not data.strip():
        raise KeyLoadError(f"unable to parse private key in {path}: the file is empty", hint=PARSE_HINT)
    if _looks_like_pem(data):
        return _load_pem(data, path, passwords)
    return _load_der(data, path, passwords)


def load_pkcs12(data: bytes, path: str, passwords: Passwords) -> Pkcs12Contents:
    """Open a PKCS#12 file: key, the certificate that matches it, and the rest."""
    bundle = _open_pkcs12(data, path, passwords)
    if bundle.key is None:
        raise KeyLoadError(
            f"the PKCS#12 file {path} holds no private key",
            hint="export it with the key (openssl pkcs12 -export -inkey key.pem -in cert.pem)",
        )
    certificates = ([bundle.cert.certificate] if bundle.cert is not None else []) + [
        item.certificate for item in bundle.additional_certs
    ]
    if not certificates:
        raise KeyLoadError(
            f"the PKCS#12 file {path} holds no certificate",
            hint="export it with the certificate (openssl pkcs12 -export -in cert.pem)",
        )
    from rasign.certs import key_matches_certificate

    public = bundle.key.public_key()
    matching = [index for index, cert in enumerate(certificates) if key_matches_certificate(public, cert)]
    if not matching:
        raise KeyLoadError(
            f"no certificate in the PKCS#12 file {path} matches its private key",
            hint="export the key together with the certificate issued for it",
        )
    leaf = certificates[matching[0]]
    others = [cert for index, cert in enumerate(certificates) if index != matching[0]]
    return Pkcs12Contents(key=bundle.key, leaf=leaf, others=others)


def _open_pkcs12(data: bytes, path: str, passwords: Passwords) -> Any:
    """The parsed bundle: with the given password, without one, or with one asked for."""
    given = passwords.given()
    if given is None:
        bundle = _try_pkcs12(data, None)
        return bundle if bundle is not None else _open_pkcs12_prompted(data, path, passwords)
    bundle = _try_pkcs12(data, given)
    if bundle is None:
        bundle = _try_pkcs12(data, None)
        if bundle is None:
            raise AuthenticationError(
                f"incorrect PKCS#12 password for {path}",
                hint="check --pkcs8-password (it is also the PKCS#12 password); a PKCS#12 file"
                " using algorithms OpenSSL cannot read fails the same way",
            )
        if passwords.explicit:
            log.warning("--pkcs8-password was given but the PKCS#12 file %s is not protected by one", path)
    elif passwords.explicit and _try_pkcs12(data, None) is not None:
        # Files without a MAC or encryption open with any password: say it was unneeded.
        log.warning("--pkcs8-password was given but the PKCS#12 file %s is not protected by one", path)
    return bundle


def _open_pkcs12_prompted(data: bytes, path: str, passwords: Passwords) -> Any:
    """Ask for the password (once; a wrong one is forgotten, never retried)."""
    password, prompted = passwords.obtain(path, "PKCS#12 file")
    bundle = _try_pkcs12(data, password)
    if bundle is None:
        if prompted:
            Passwords.forget(path)
        raise AuthenticationError(f"incorrect PKCS#12 password for {path}", hint=PASSWORD_HINT)
    if prompted:
        Passwords.confirm(path, password)
    return bundle


def _try_pkcs12(data: bytes, password: bytes | None) -> Any:
    """The parsed bundle, or None when this password does not open it.

    cryptography reports a wrong password and unreadable contents alike ("Invalid
    password or PKCS12 data"); the DER shape was already checked by :func:`is_pkcs12`.
    """
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        return pkcs12.load_pkcs12(data, password)
    except ValueError:
        return None


def _looks_like_pem(data: bytes) -> bool:
    return b"-----BEGIN " in data


def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """``(label, whole block text)`` for each PEM block, headers kept."""
    from rasign.certs import pem_spans  # linear time; the regular expression was quadratic

    return [(label, data[start:stop]) for label, start, _, _, stop in pem_spans(data)]


def _pem_body(block: bytes) -> bytes | None:
    """The DER of a header-less PEM block, or None when it carries RFC 1421 headers."""
    lines = block.splitlines()[1:-1]
    if any(b":" in line for line in lines[:3]):
        return None
    try:
        return base64.b64decode(b"".join(b"".join(lines).split()), validate=True)
    except ValueError:
        return b""


def _load_pem(data: bytes, path: str, passwords: Passwords) -> LoadedKey:
    blocks = _pem_blocks(data)
    keys = [(label, block) for label, block in blocks if label in KEY_LABELS]
    certificates = _certificates_in(blocks, path)
    if not keys:
        foreign = [label for label, _ in blocks if label in FOREIGN_KEY_HINTS]
        if foreign:
            raise KeyLoadError(
                f"unsupported private key format in {path}: {foreign[0]}", hint=FOREIGN_KEY_HINTS[foreign[0]]
            )
        found = ", ".join(sorted({label for label, _ in blocks})) or "no complete PEM block"
        raise KeyLoadError(
            f"unable to parse private key in {path}: no private key PEM block (found: {found})", hint=PARSE_HINT
        )
    if len(keys) > 1:
        raise KeyLoadError(
            f"{path} holds {len(keys)} private keys; rasign needs exactly one",
            hint="split the file so that it holds one key",
        )
    label, block = keys[0]
    body = _pem_body(block)
    if body is None:
        loaded = _load_legacy_encrypted(block, label, path, passwords)
    elif not body:
        raise KeyLoadError(
            f"unable to parse private key in {path}: the {label} block is not valid base64", hint=PARSE_HINT
        )
    elif label == "ENCRYPTED PRIVATE KEY":
        loaded = _load_encrypted_pkcs8(body, path, passwords)
    elif label == "PRIVATE KEY":
        loaded = _load_plain_pkcs8(body, path, passwords)
    else:
        loaded = _load_traditional(body, label, path, passwords)
    loaded.certificates = certificates
    return loaded


def _certificates_in(blocks: list[tuple[str, bytes]], path: str) -> list[x509.Certificate]:
    from rasign.certs import parse_certificate_der

    found = []
    for label, block in blocks:
        if label in CERTIFICATE_LABELS:
            der = _pem_body(block)
            if der:
                found.append(parse_certificate_der(der, path))
    return found


def _load_der(data: bytes, path: str, passwords: Passwords) -> LoadedKey:
    kind = classify_der(data)
    if kind is DerKind.ENCRYPTED_PKCS8:
        return _load_encrypted_pkcs8(data, path, passwords)
    if kind is DerKind.PKCS8:
        return _load_plain_pkcs8(data, path, passwords)
    if kind is DerKind.CERTIFICATE:
        raise KeyLoadError(f"{path} is a certificate, not a private key", hint="pass the key file to --private-key")
    if kind is DerKind.PKCS12:
        raise KeyLoadError(f"{path} is a PKCS#12 file", hint="pass it as --certificate or --private-key alone")
    return _load_traditional(data, None, path, passwords)


def _load_plain_pkcs8(der: bytes, path: str, passwords: Passwords) -> LoadedKey:
    try:
        oid, body = pkcs8_algorithm(der)
    except DerError as err:
        raise KeyLoadError(f"unable to parse private key in {path}: malformed PKCS#8 ({err})", hint=PARSE_HINT) from err
    _warn_unneeded_password(path, passwords)
    if is_mldsa_oid(oid):
        try:
            key = mldsa_key_from_pkcs8_body(oid, body)
        except DerError as err:
            raise KeyLoadError(f"unable to parse private key in {path}: {err}", hint=PARSE_HINT) from err
        return LoadedKey(key=key, encoding="PKCS#8")
    return LoadedKey(key=_cryptography_der(der, None, path, f"PKCS#8 key with algorithm {oid}"), encoding="PKCS#8")


def _load_traditional(der: bytes, label: str | None, path: str, passwords: Passwords) -> LoadedKey:
    encoding = {"RSA PRIVATE KEY": "PKCS#1", "EC PRIVATE KEY": "SEC1", None: "DER"}[label]
    what = f"{label} block" if label else "DER data (not PKCS#1, SEC1, PKCS#8 or PKCS#12)"
    key = _cryptography_der(der, None, path, what)
    _warn_unneeded_password(path, passwords)
    return LoadedKey(key=key, encoding=encoding)


def _cryptography_der(der: bytes, password: bytes | None, path: str, what: str) -> Any:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_der_private_key(der, password)
    except UnsupportedAlgorithm as err:
        raise KeyLoadError(
            f"unsupported private key type in {path} ({what})",
            hint="Roles Anywhere accepts RSA, EC (P-256/P-384/P-521) and ML-DSA keys",
        ) from err
    except (ValueError, TypeError) as err:
        raise KeyLoadError(f"unable to parse private key in {path}: invalid {what}", hint=PARSE_HINT) from err


def _load_encrypted_pkcs8(der: bytes, path: str, passwords: Passwords) -> LoadedKey:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    if classify_der(der) is not DerKind.ENCRYPTED_PKCS8:
        # Check the shape first: asking for a password to open a corrupt file wastes a try.
        raise KeyLoadError(
            f"unable to parse private key in {path}: malformed encrypted PKCS#8 structure", hint=PARSE_HINT
        )
    password, prompted = passwords.obtain(path, "private key")
    try:
        key = serialization.load_der_private_key(der, password)
    except (ValueError, UnsupportedAlgorithm) as err:
        # cryptography cannot tell "wrong password" from "decrypted fine, but holds a key
        # encoding it does not load" (ML-DSA "both"): decrypt ourselves to find out.
        says_wrong_password = "password" in str(err).lower()
        key = _decrypt_and_load_ourselves(der, password, path, says_wrong_password, prompted, err)
    if prompted:
        Passwords.confirm(path, password)
    return LoadedKey(key=key, encoding="encrypted PKCS#8")


def _decrypt_and_load_ourselves(
    der: bytes, password: bytes, path: str, says_wrong_password: bool, prompted: bool, first: Exception
) -> Any:
    try:
        plain = decrypt_pbes2(der, password)
    except WrongPassword as err:
        if prompted:
            Passwords.forget(path)
        raise AuthenticationError(f"incorrect PKCS#8 private key password for {path}", hint=PASSWORD_HINT) from err
    except UnsupportedEncryption as err:
        if says_wrong_password:
            if prompted:
                Passwords.forget(path)
            raise AuthenticationError(
                f"incorrect PKCS#8 private key password for {path}", hint=PASSWORD_HINT
            ) from first
        raise KeyLoadError(
            f"unable to parse private key in {path}: encrypted with an unsupported {err}",
            hint="re-encrypt it: openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256",
        ) from err
    except DerError as err:
        raise KeyLoadError(
            f"unable to parse private key in {path}: malformed encrypted PKCS#8 ({err})", hint=PARSE_HINT
        ) from err
    try:
        oid, body = pkcs8_algorithm(plain)
        if not is_mldsa_oid(oid):
            raise KeyLoadError(
                f"unable to parse private key in {path}: the decrypted PKCS#8 key (algorithm {oid}) is not supported",
                hint="Roles Anywhere accepts RSA, EC (P-256/P-384/P-521) and ML-DSA keys",
            ) from first
        return mldsa_key_from_pkcs8_body(oid, body)
    except DerError as err:
        raise KeyLoadError(f"unable to parse private key in {path}: {err}", hint=PARSE_HINT) from err


def _load_legacy_encrypted(block: bytes, label: str, path: str, passwords: Passwords) -> LoadedKey:
    """OpenSSL's pre-PKCS#8 ``Proc-Type: 4,ENCRYPTED`` PEM (the Go helper cannot read these)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    if b"Proc-Type: 4,ENCRYPTED" not in block:
        raise KeyLoadError(
            f"unable to parse private key in {path}: unexpected headers in the {label} block", hint=PARSE_HINT
        )
    password, prompted = passwords.obtain(path, "private key")
    try:
        key = serialization.load_pem_private_key(block, password)
    except UnsupportedAlgorithm as err:
        raise KeyLoadError(
            f"unable to parse private key in {path}: the legacy PEM cipher is not supported ({err})",
            hint="convert it: openssl pkcs8 -topk8 -v2 aes-256-cbc -in old.pem -out new.pem",
        ) from err
    except (ValueError, TypeError) as err:
        if "password" in str(err).lower():
            if prompted:
                Passwords.forget(path)
            raise AuthenticationError(f"incorrect PKCS#8 private key password for {path}", hint=PASSWORD_HINT) from err
        raise KeyLoadError(
            f"unable to parse private key in {path}: invalid encrypted {label} block", hint=PARSE_HINT
        ) from err
    if prompted:
        Passwords.confirm(path, password)
    return LoadedKey(key=key, encoding=f"legacy encrypted {label}")


def _warn_unneeded_password(path: str, passwords: Passwords) -> None:
    if passwords.explicit:
        log.warning("--pkcs8-password was given but the private key %s is not encrypted; ignoring it", path)
