"""Windows certificate stores through CryptoAPI and CNG, with ctypes only.

What it does (reference-helper.md 10.2, with the Go helper's limits lifted):

- opens any system store in any location: ``--system-store-name MY`` (CurrentUser, as
  Go), ``LocalMachine\\My``, ``Cert:\\LocalMachine\\Root``… (Go: CurrentUser only,
  aws/rolesanywhere-credential-helper#41/#150). The store is opened read-only and must
  exist (Go's ``CertOpenStore`` without ``OPEN_EXISTING`` silently created an empty store
  for a misspelt name, which then "had no matching certs");
- enumerates identities with ``CertFindChainInStore`` (certificates whose private key
  is reachable, with their chain, from the local cache only - no network);
- signs with CNG ``NCryptSignHash``, silently first and, only when the provider answers
  ``NTE_SILENT_CONTEXT`` (a smart card that needs its PIN dialog), once more with UI
  allowed; keys only a legacy CryptoAPI CSP holds are signed with ``CryptSignHash``
  (RSA), whose little-endian output is reversed to the big-endian wire form;
- the chain sent is the intermediates only (Go sent the leaf and the root too).

Selection (selector, validity filter, ``--use-latest-expiring-certificate``, ambiguity
listing) is the shared code in :mod:`backends.store.base`; this module only enumerates
and signs.

NOT RUN ON WINDOWS: this module has only been imported and checked on Linux (constants,
ctypes signatures and structure layouts against the Windows SDK documentation; store-name
parsing; the silent-then-UI retry rule; signature conversions). See docs/stores.md.
The DLLs are loaded lazily, inside functions, so importing it anywhere is safe.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rasign.errors import (
    AuthenticationError,
    BackendUnavailable,
    KeyLoadError,
    SigningError,
)
from rasign.signer import KeyKind, Signer, der_from_raw_ecdsa, hash_message

from .base import CertificateStore, NativeStoreSigner, StoreEntry
from .ctypes_binding import Signature, bind
from .selector import ERR_NO_MATCH_WINDOWS

if TYPE_CHECKING:
    from cryptography import x509

# ----------------------------------------------------------------------------- C types
# Fixed widths, not ctypes.wintypes: there DWORD is c_ulong, 8 bytes on 64-bit Linux,
# which would make the structure layouts checked by the tests differ from Windows'.
DWORD = ctypes.c_uint32
BOOL = ctypes.c_int32
LONG = ctypes.c_int32
SECURITY_STATUS = LONG
ULONG_PTR = ctypes.c_size_t
HCERTSTORE = ctypes.c_void_p
HCRYPTPROV = ULONG_PTR
HCRYPTHASH = ULONG_PTR
NCRYPT_HANDLE = ULONG_PTR
LPCWSTR = ctypes.c_wchar_p
LPCSTR = ctypes.c_char_p
PBYTE = ctypes.POINTER(ctypes.c_ubyte)

# ----------------------------------------------------------------------------- constants
# Values from wincrypt.h / ncrypt.h / bcrypt.h / winerror.h (Windows SDK).
X509_ASN_ENCODING = 0x00000001
PKCS_7_ASN_ENCODING = 0x00010000
ENCODING = X509_ASN_ENCODING | PKCS_7_ASN_ENCODING

CERT_STORE_PROV_SYSTEM_W = 10
CERT_STORE_OPEN_EXISTING_FLAG = 0x00004000
CERT_STORE_READONLY_FLAG = 0x00008000
CERT_SYSTEM_STORE_LOCATION_SHIFT = 16
CERT_SYSTEM_STORE_CURRENT_USER = 1 << CERT_SYSTEM_STORE_LOCATION_SHIFT  # 0x00010000
CERT_SYSTEM_STORE_LOCAL_MACHINE = 2 << CERT_SYSTEM_STORE_LOCATION_SHIFT  # 0x00020000
CERT_SYSTEM_STORE_CURRENT_SERVICE = 4 << CERT_SYSTEM_STORE_LOCATION_SHIFT
CERT_SYSTEM_STORE_SERVICES = 5 << CERT_SYSTEM_STORE_LOCATION_SHIFT
CERT_SYSTEM_STORE_USERS = 6 << CERT_SYSTEM_STORE_LOCATION_SHIFT
CERT_SYSTEM_STORE_CURRENT_USER_GROUP_POLICY = 7 << CERT_SYSTEM_STORE_LOCATION_SHIFT
CERT_SYSTEM_STORE_LOCAL_MACHINE_GROUP_POLICY = 8 << CERT_SYSTEM_STORE_LOCATION_SHIFT
CERT_SYSTEM_STORE_LOCAL_MACHINE_ENTERPRISE = 9 << CERT_SYSTEM_STORE_LOCATION_SHIFT

CERT_CHAIN_FIND_BY_ISSUER = 1
CERT_CHAIN_FIND_BY_ISSUER_CACHE_ONLY_URL_FLAG = 0x0004
CERT_CHAIN_FIND_BY_ISSUER_CACHE_ONLY_FLAG = 0x8000

CRYPT_ACQUIRE_CACHE_FLAG = 0x00000001
CRYPT_ACQUIRE_SILENT_FLAG = 0x00000040
CRYPT_ACQUIRE_ALLOW_NCRYPT_KEY_FLAG = 0x00010000
CRYPT_ACQUIRE_PREFER_NCRYPT_KEY_FLAG = 0x00020000
CERT_NCRYPT_KEY_SPEC = 0xFFFFFFFF
AT_KEYEXCHANGE = 1
AT_SIGNATURE = 2

NCRYPT_SILENT_FLAG = 0x00000040
BCRYPT_PAD_PKCS1 = 0x00000002
NTE_BAD_KEYSET = 0x80090016
NTE_SILENT_CONTEXT = 0x80090022
NTE_USER_CANCELLED = 0x80090036
SCARD_W_CANCELLED_BY_USER = 0x8010006E
SCARD_W_WRONG_CHV = 0x8010006B
ERROR_SUCCESS = 0
CRYPT_E_NOT_FOUND = 0x80092004
ERROR_FILE_NOT_FOUND = 2

CALG_SHA_256 = 0x0000800C
CALG_SHA_384 = 0x0000800D
CALG_SHA_512 = 0x0000800E
HP_HASHVAL = 0x0002

CNG_HASH_NAMES = {"SHA256": "SHA256", "SHA384": "SHA384", "SHA512": "SHA512"}
"""``BCRYPT_SHA*_ALGORITHM`` identifiers for ``BCRYPT_PKCS1_PADDING_INFO.pszAlgId``."""
CAPI_HASH_IDS = {"SHA256": CALG_SHA_256, "SHA384": CALG_SHA_384, "SHA512": CALG_SHA_512}

SYSTEM_STORE_NAMES = ("MY", "Root", "Trust", "CA")
"""Go's canonical spellings (reference-helper.md 1.8): matched case-insensitively."""

LOCATIONS = {
    "CURRENTUSER": ("CurrentUser", CERT_SYSTEM_STORE_CURRENT_USER),
    "LOCALMACHINE": ("LocalMachine", CERT_SYSTEM_STORE_LOCAL_MACHINE),
    "CURRENTSERVICE": ("CurrentService", CERT_SYSTEM_STORE_CURRENT_SERVICE),
    "SERVICES": ("Services", CERT_SYSTEM_STORE_SERVICES),
    "USERS": ("Users", CERT_SYSTEM_STORE_USERS),
    "CURRENTUSERGROUPPOLICY": ("CurrentUserGroupPolicy", CERT_SYSTEM_STORE_CURRENT_USER_GROUP_POLICY),
    "LOCALMACHINEGROUPPOLICY": ("LocalMachineGroupPolicy", CERT_SYSTEM_STORE_LOCAL_MACHINE_GROUP_POLICY),
    "LOCALMACHINEENTERPRISE": ("LocalMachineEnterprise", CERT_SYSTEM_STORE_LOCAL_MACHINE_ENTERPRISE),
}
"""Store locations by upper-case name (PowerShell ``Cert:\\`` drive spellings)."""


# ----------------------------------------------------------------------------- structures
class CERT_CONTEXT(ctypes.Structure):
    _fields_ = [
        ("dwCertEncodingType", DWORD),
        ("pbCertEncoded", PBYTE),
        ("cbCertEncoded", DWORD),
        ("pCertInfo", ctypes.c_void_p),
        ("hCertStore", HCERTSTORE),
    ]


PCCERT_CONTEXT = ctypes.POINTER(CERT_CONTEXT)


class CERT_TRUST_STATUS(ctypes.Structure):
    _fields_ = [("dwErrorStatus", DWORD), ("dwInfoStatus", DWORD)]


class CERT_CHAIN_ELEMENT(ctypes.Structure):
    _fields_ = [
        ("cbSize", DWORD),
        ("pCertContext", PCCERT_CONTEXT),
        ("TrustStatus", CERT_TRUST_STATUS),
        ("pRevocationInfo", ctypes.c_void_p),
        ("pIssuanceUsage", ctypes.c_void_p),
        ("pApplicationUsage", ctypes.c_void_p),
        ("pwszExtendedErrorInfo", LPCWSTR),
    ]


class CERT_SIMPLE_CHAIN(ctypes.Structure):
    _fields_ = [
        ("cbSize", DWORD),
        ("TrustStatus", CERT_TRUST_STATUS),
        ("cElement", DWORD),
        ("rgpElement", ctypes.POINTER(ctypes.POINTER(CERT_CHAIN_ELEMENT))),
        ("pTrustListInfo", ctypes.c_void_p),
        ("fHasRevocationFreshnessTime", BOOL),
        ("dwRevocationFreshnessTime", DWORD),
    ]


class GUID(ctypes.Structure):
    _fields_ = [("Data1", DWORD), ("Data2", ctypes.c_uint16), ("Data3", ctypes.c_uint16), ("Data4", ctypes.c_ubyte * 8)]


class CERT_CHAIN_CONTEXT(ctypes.Structure):
    _fields_ = [
        ("cbSize", DWORD),
        ("TrustStatus", CERT_TRUST_STATUS),
        ("cChain", DWORD),
        ("rgpChain", ctypes.POINTER(ctypes.POINTER(CERT_SIMPLE_CHAIN))),
        ("cLowerQualityChainContext", DWORD),
        ("rgpLowerQualityChainContext", ctypes.c_void_p),
        ("fHasRevocationFreshnessTime", BOOL),
        ("dwRevocationFreshnessTime", DWORD),
        ("dwCreateFlags", DWORD),
        ("ChainId", GUID),
    ]


PCCERT_CHAIN_CONTEXT = ctypes.POINTER(CERT_CHAIN_CONTEXT)


class CERT_CHAIN_FIND_BY_ISSUER_PARA(ctypes.Structure):
    _fields_ = [
        ("cbSize", DWORD),
        ("pszUsageIdentifier", LPCSTR),
        ("dwKeySpec", DWORD),
        ("dwAcquirePrivateKeyFlags", DWORD),
        ("cIssuer", DWORD),
        ("rgIssuer", ctypes.c_void_p),
        ("pfnFindCallback", ctypes.c_void_p),
        ("pvFindArg", ctypes.c_void_p),
        ("pdwIssuerChainIndex", ctypes.POINTER(DWORD)),
        ("pdwIssuerElementIndex", ctypes.POINTER(DWORD)),
    ]


class BCRYPT_PKCS1_PADDING_INFO(ctypes.Structure):
    _fields_ = [("pszAlgId", LPCWSTR)]


# ----------------------------------------------------------------------------- signatures

CRYPT32: dict[str, Signature] = {
    # HCERTSTORE CertOpenStore(LPCSTR lpszStoreProvider, DWORD dwEncodingType,
    #     HCRYPTPROV_LEGACY hCryptProv, DWORD dwFlags, const void *pvPara)
    "CertOpenStore": (HCERTSTORE, (ctypes.c_void_p, DWORD, HCRYPTPROV, DWORD, ctypes.c_void_p)),
    # BOOL CertCloseStore(HCERTSTORE hCertStore, DWORD dwFlags)
    "CertCloseStore": (BOOL, (HCERTSTORE, DWORD)),
    # PCCERT_CHAIN_CONTEXT CertFindChainInStore(HCERTSTORE hCertStore, DWORD dwCertEncodingType,
    #     DWORD dwFindFlags, DWORD dwFindType, const void *pvFindPara, PCCERT_CHAIN_CONTEXT pPrevChainContext)
    "CertFindChainInStore": (
        PCCERT_CHAIN_CONTEXT,
        (HCERTSTORE, DWORD, DWORD, DWORD, ctypes.c_void_p, PCCERT_CHAIN_CONTEXT),
    ),
    # void CertFreeCertificateChain(PCCERT_CHAIN_CONTEXT pChainContext)
    "CertFreeCertificateChain": (None, (PCCERT_CHAIN_CONTEXT,)),
    # PCCERT_CONTEXT CertEnumCertificatesInStore(HCERTSTORE hCertStore, PCCERT_CONTEXT pPrevCertContext)
    "CertEnumCertificatesInStore": (PCCERT_CONTEXT, (HCERTSTORE, PCCERT_CONTEXT)),
    # PCCERT_CONTEXT CertDuplicateCertificateContext(PCCERT_CONTEXT pCertContext)
    "CertDuplicateCertificateContext": (PCCERT_CONTEXT, (PCCERT_CONTEXT,)),
    # BOOL CertFreeCertificateContext(PCCERT_CONTEXT pCertContext)
    "CertFreeCertificateContext": (BOOL, (PCCERT_CONTEXT,)),
    # BOOL CryptAcquireCertificatePrivateKey(PCCERT_CONTEXT pCert, DWORD dwFlags, void *pvParameters,
    #     HCRYPTPROV_OR_NCRYPT_KEY_HANDLE *phCryptProvOrNCryptKey, DWORD *pdwKeySpec,
    #     BOOL *pfCallerFreeProvOrNCryptKey)
    "CryptAcquireCertificatePrivateKey": (
        BOOL,
        (
            PCCERT_CONTEXT,
            DWORD,
            ctypes.c_void_p,
            ctypes.POINTER(ULONG_PTR),
            ctypes.POINTER(DWORD),
            ctypes.POINTER(BOOL),
        ),
    ),
}

NCRYPT: dict[str, Signature] = {
    # SECURITY_STATUS NCryptSignHash(NCRYPT_KEY_HANDLE hKey, VOID *pPaddingInfo, PBYTE pbHashValue,
    #     DWORD cbHashValue, PBYTE pbSignature, DWORD cbSignature, DWORD *pcbResult, DWORD dwFlags)
    "NCryptSignHash": (
        SECURITY_STATUS,
        (NCRYPT_HANDLE, ctypes.c_void_p, ctypes.c_char_p, DWORD, ctypes.c_void_p, DWORD, ctypes.POINTER(DWORD), DWORD),
    ),
    # SECURITY_STATUS NCryptFreeObject(NCRYPT_HANDLE hObject)
    "NCryptFreeObject": (SECURITY_STATUS, (NCRYPT_HANDLE,)),
}

ADVAPI32: dict[str, Signature] = {
    # BOOL CryptCreateHash(HCRYPTPROV hProv, ALG_ID Algid, HCRYPTKEY hKey, DWORD dwFlags, HCRYPTHASH *phHash)
    "CryptCreateHash": (BOOL, (HCRYPTPROV, DWORD, ULONG_PTR, DWORD, ctypes.POINTER(HCRYPTHASH))),
    # BOOL CryptSetHashParam(HCRYPTHASH hHash, DWORD dwParam, const BYTE *pbData, DWORD dwFlags)
    "CryptSetHashParam": (BOOL, (HCRYPTHASH, DWORD, ctypes.c_char_p, DWORD)),
    # BOOL CryptSignHashW(HCRYPTHASH hHash, DWORD dwKeySpec, LPCWSTR szDescription, DWORD dwFlags,
    #     BYTE *pbSignature, DWORD *pdwSigLen)
    "CryptSignHashW": (BOOL, (HCRYPTHASH, DWORD, LPCWSTR, DWORD, ctypes.c_void_p, ctypes.POINTER(DWORD))),
    # BOOL CryptDestroyHash(HCRYPTHASH hHash)
    "CryptDestroyHash": (BOOL, (HCRYPTHASH,)),
    # BOOL CryptReleaseContext(HCRYPTPROV hProv, DWORD dwFlags)
    "CryptReleaseContext": (BOOL, (HCRYPTPROV, DWORD)),
}

LIBRARIES: dict[str, dict[str, Signature]] = {"crypt32": CRYPT32, "ncrypt": NCRYPT, "advapi32": ADVAPI32}


@dataclass
class _Api:
    crypt32: Any
    ncrypt: Any
    advapi32: Any

    @staticmethod
    def last_error() -> int:
        return int(ctypes.get_last_error()) & 0xFFFFFFFF  # type: ignore[attr-defined]


_API: _Api | None = None


def api() -> _Api:
    """Load and bind the three DLLs once; only ever called on Windows."""
    global _API
    if _API is None:
        windll = getattr(ctypes, "WinDLL", None)
        if windll is None:
            raise BackendUnavailable("the Windows certificate store is only available on Windows")
        loaded = {name: bind(windll(name, use_last_error=True), table) for name, table in LIBRARIES.items()}
        _API = _Api(**loaded)
    return _API


# ----------------------------------------------------------------------------- store names


@dataclass(frozen=True)
class StoreName:
    """A system store: location (flag and spelling) plus store name."""

    location: str
    flag: int
    name: str

    def __str__(self) -> str:
        return f"{self.location}\\{self.name}"


_LOCATION_PATH = re.compile(r"^(?:cert:)?[\\/]*(?P<location>[A-Za-z]+)[\\/]+(?P<name>[^\\/]+)[\\/]*$", re.IGNORECASE)


def canonical_store_name(name: str) -> str:
    """Go's rule: ``my``/``ROOT``/… become ``MY``/``Root``/``Trust``/``CA``; others pass unchanged."""
    for known in SYSTEM_STORE_NAMES:
        if name.lower() == known.lower():
            return known
    return name


def looks_like_store_path(text: str) -> bool:
    """True for ``Location\\Name`` with a known location (``Cert:\\`` prefix allowed)."""
    match = _LOCATION_PATH.match(text.strip())
    return bool(match and match.group("location").upper() in LOCATIONS)


def parse_store_name(text: str | None) -> StoreName:
    """``MY`` (CurrentUser), ``LocalMachine\\My``, ``Cert:\\LocalMachine\\Root``, ``CurrentUser/CA``…"""
    from rasign.errors import UsageError

    raw = (text or "MY").strip()
    match = _LOCATION_PATH.match(raw)
    if match:
        location = match.group("location").upper()
        if location not in LOCATIONS:
            known = ", ".join(spelling for spelling, _ in LOCATIONS.values())
            raise UsageError(
                f"unknown Windows certificate store location {match.group('location')!r}", hint=f"use one of {known}"
            )
        spelling, flag = LOCATIONS[location]
        return StoreName(spelling, flag, canonical_store_name(match.group("name")))
    if not raw or "\\" in raw or "/" in raw:
        raise UsageError(f"invalid Windows certificate store name {raw!r}", hint="use e.g. MY, Root, LocalMachine\\My")
    return StoreName("CurrentUser", CERT_SYSTEM_STORE_CURRENT_USER, canonical_store_name(raw))


# ----------------------------------------------------------------------------- signing helpers


def silent_then_ui(attempt: Callable[[int], tuple[int, bytes]], flags: int) -> bytes:
    """Run a CNG operation silently; repeat it once with UI allowed on ``NTE_SILENT_CONTEXT``.

    ``attempt(flags)`` returns ``(status, result)``. Silent first keeps services and
    ``credential_process`` from popping dialogs; the one retry lets a smart card show its
    PIN prompt to a user who is there (reference-helper.md 10.2). Any other status is final:
    a wrong PIN is never retried.
    """
    status, result = attempt(flags | NCRYPT_SILENT_FLAG)
    if status & 0xFFFFFFFF == NTE_SILENT_CONTEXT:
        status, result = attempt(flags & ~NCRYPT_SILENT_FLAG)
    check_status(status, "NCryptSignHash")
    return result


def check_status(status: int, call: str) -> None:
    """Map a SECURITY_STATUS/HRESULT to the rasign error a user can act on."""
    code = status & 0xFFFFFFFF
    if code == ERROR_SUCCESS:
        return
    if code in (NTE_USER_CANCELLED, SCARD_W_CANCELLED_BY_USER):
        raise AuthenticationError(f"{call}: the PIN dialog was cancelled (0x{code:08X})")
    if code == SCARD_W_WRONG_CHV:
        raise AuthenticationError(
            f"{call}: wrong smart card PIN (0x{code:08X})", hint="rasign does not retry; run again with the right PIN"
        )
    if code == NTE_SILENT_CONTEXT:
        raise AuthenticationError(
            f"{call}: the key needs a PIN dialog but no UI is possible here (NTE_SILENT_CONTEXT)",
            hint="run interactively once, or use a key that does not require user interaction",
        )
    raise SigningError(f"{call} failed with 0x{code:08X}")


def capi_to_big_endian(signature: bytes) -> bytes:
    """CryptoAPI returns RSA signatures little-endian; the wire form is big-endian."""
    return signature[::-1]


def ncrypt_signature_to_wire(raw: bytes, kind: KeyKind) -> bytes:
    """CNG gives RSA PKCS#1 bytes as-is and ECDSA as raw ``r || s``, which is DER-wrapped."""
    return der_from_raw_ecdsa(raw) if kind is KeyKind.EC else raw


def chain_from_elements(ders: list[bytes]) -> list[bytes]:
    """Intermediates from a leaf-to-root element list: drop the leaf and a self-signed root."""
    from cryptography import x509

    chain = []
    for index, der in enumerate(ders[1:], start=1):
        cert = x509.load_der_x509_certificate(der)
        if index == len(ders) - 1 and cert.subject == cert.issuer:
            continue  # the self-signed root: the trust anchor already holds it
        chain.append(der)
    return chain


# ----------------------------------------------------------------------------- store and signer


def _der_of(context: Any) -> bytes:
    value = context.contents
    return ctypes.string_at(value.pbCertEncoded, value.cbCertEncoded)


class WindowsStore(CertificateStore):
    """A Windows system certificate store (read-only)."""

    no_match_message = ERR_NO_MATCH_WINDOWS

    def __init__(self, store: StoreName) -> None:
        self.store = store
        self.description = str(store)
        self._handle: Any = None
        self._contexts: list[Any] = []

    @classmethod
    def from_name(cls, text: str | None) -> WindowsStore:
        return cls(parse_store_name(text))

    def _open(self) -> Any:
        if self._handle is None:
            native = api()
            flags = self.store.flag | CERT_STORE_READONLY_FLAG | CERT_STORE_OPEN_EXISTING_FLAG
            handle = native.crypt32.CertOpenStore(
                CERT_STORE_PROV_SYSTEM_W, 0, 0, flags, ctypes.c_wchar_p(self.store.name)
            )
            if not handle:
                code = native.last_error()
                raise KeyLoadError(
                    "failed to open system cert store",
                    hint=f"{self.store}: error 0x{code:08X}; check the store name (MY, Root, CA, Trust or a custom store) and the location",
                )
            self._handle = handle
        return self._handle

    def entries(self) -> list[StoreEntry]:
        native = api()
        handle = self._open()
        para = CERT_CHAIN_FIND_BY_ISSUER_PARA()
        para.cbSize = ctypes.sizeof(para)
        flags = CERT_CHAIN_FIND_BY_ISSUER_CACHE_ONLY_FLAG | CERT_CHAIN_FIND_BY_ISSUER_CACHE_ONLY_URL_FLAG
        entries: list[StoreEntry] = []
        previous = None
        try:
            while True:
                chain = native.crypt32.CertFindChainInStore(
                    handle, ENCODING, flags, CERT_CHAIN_FIND_BY_ISSUER, ctypes.byref(para), previous
                )
                # Each call frees the context passed in; NULL (CRYPT_E_NOT_FOUND) ends the walk.
                previous = chain if chain else None
                if not chain:
                    break
                entry = self._entry_from_chain(native, chain)
                if entry is not None:
                    entries.append(entry)
        finally:
            if previous is not None:
                native.crypt32.CertFreeCertificateChain(previous)
        return entries

    def _entry_from_chain(self, native: _Api, chain: Any) -> StoreEntry | None:
        from cryptography import x509

        context = chain.contents
        if context.cChain < 1:
            return None
        simple = context.rgpChain[0].contents
        ders = [_der_of(simple.rgpElement[i].contents.pCertContext) for i in range(simple.cElement)]
        if not ders:
            return None
        try:
            certificate = x509.load_der_x509_certificate(ders[0])
            chain_certs = [x509.load_der_x509_certificate(der) for der in chain_from_elements(ders)]
        except ValueError:
            return None  # Go skips certificates it cannot parse, too
        leaf_context = native.crypt32.CertDuplicateCertificateContext(simple.rgpElement[0].contents.pCertContext)
        self._contexts.append(leaf_context)
        return StoreEntry(certificate, str(self.store), chain_certs, handle=leaf_context)

    def open_signer(self, entry: StoreEntry) -> Signer:
        native = api()
        context = native.crypt32.CertDuplicateCertificateContext(entry.handle)
        return WindowsSigner(native, context, entry.certificate, entry.chain, str(self.store))

    def close(self) -> None:
        if self._handle is None and not self._contexts:
            return
        native = api()
        for context in self._contexts:
            native.crypt32.CertFreeCertificateContext(context)
        self._contexts = []
        if self._handle is not None:
            native.crypt32.CertCloseStore(self._handle, 0)
            self._handle = None


class WindowsSigner(NativeStoreSigner):
    """Signs with the private key behind a store certificate (CNG first, CryptoAPI fallback)."""

    def __init__(
        self, native: _Api, context: Any, certificate: x509.Certificate, chain: list[x509.Certificate], where: str
    ) -> None:
        super().__init__(certificate, chain, "the Windows certificate store")
        self._native = native
        self._context = context
        self._where = where
        self._key = ULONG_PTR(0)
        self._key_spec = DWORD(0)
        self._must_free = BOOL(0)
        self._acquire()

    def _acquire(self) -> None:
        crypt32 = self._native.crypt32
        base = CRYPT_ACQUIRE_PREFER_NCRYPT_KEY_FLAG

        def attempt(flags: int) -> tuple[int, bytes]:
            ok = crypt32.CryptAcquireCertificatePrivateKey(
                self._context,
                flags,
                None,
                ctypes.byref(self._key),
                ctypes.byref(self._key_spec),
                ctypes.byref(self._must_free),
            )
            return (ERROR_SUCCESS if ok else self._native.last_error()), b""

        status, _ = attempt(base | CRYPT_ACQUIRE_SILENT_FLAG)
        if status == NTE_SILENT_CONTEXT:
            status, _ = attempt(base)
        if status != ERROR_SUCCESS:
            if status in (NTE_BAD_KEYSET, CRYPT_E_NOT_FOUND):
                raise KeyLoadError(
                    "unable to find matching identity in cert store",
                    hint=f"the private key of the certificate in {self._where} is not accessible to this user (0x{status:08X})",
                )
            check_status(status, "CryptAcquireCertificatePrivateKey")

    def describe(self) -> str:
        provider = "CNG" if self._key_spec.value == CERT_NCRYPT_KEY_SPEC else "CryptoAPI"
        return f"store {self._kind.value} key in {self._where} via {provider}"

    def sign(self, message: bytes, digest: str = "SHA256") -> bytes:
        digest_bytes = hash_message(message, digest)
        if self._key_spec.value == CERT_NCRYPT_KEY_SPEC:
            return self._sign_cng(digest_bytes, digest)
        return self._sign_capi(digest_bytes, digest)

    def _sign_cng(self, digest_bytes: bytes, digest: str) -> bytes:
        ncrypt = self._native.ncrypt
        padding = None
        flags = 0
        if self._kind is KeyKind.RSA:
            padding = BCRYPT_PKCS1_PADDING_INFO(CNG_HASH_NAMES[digest])
            flags = BCRYPT_PAD_PKCS1
        padding_ref = ctypes.byref(padding) if padding is not None else None

        def attempt(call_flags: int) -> tuple[int, bytes]:
            size = DWORD(0)
            status = ncrypt.NCryptSignHash(
                self._key, padding_ref, digest_bytes, len(digest_bytes), None, 0, ctypes.byref(size), call_flags
            )
            if status != ERROR_SUCCESS:
                return status, b""
            buffer = ctypes.create_string_buffer(size.value)
            status = ncrypt.NCryptSignHash(
                self._key, padding_ref, digest_bytes, len(digest_bytes), buffer, size, ctypes.byref(size), call_flags
            )
            return status, buffer.raw[: size.value]

        return ncrypt_signature_to_wire(silent_then_ui(attempt, flags), self._kind)

    def _sign_capi(self, digest_bytes: bytes, digest: str) -> bytes:
        if self._kind is not KeyKind.RSA:
            raise SigningError("a CryptoAPI (legacy CSP) key can only sign with RSA")
        advapi = self._native.advapi32
        hash_handle = HCRYPTHASH(0)
        if not advapi.CryptCreateHash(self._key, CAPI_HASH_IDS[digest], 0, 0, ctypes.byref(hash_handle)):
            raise SigningError(
                f"CryptCreateHash failed with 0x{self._native.last_error():08X}",
                hint="the CSP may not support SHA-2; use a CNG key",
            )
        try:
            if not advapi.CryptSetHashParam(hash_handle, HP_HASHVAL, digest_bytes, 0):
                raise SigningError(f"CryptSetHashParam failed with 0x{self._native.last_error():08X}")
            size = DWORD(0)
            if not advapi.CryptSignHashW(hash_handle, self._key_spec, None, 0, None, ctypes.byref(size)):
                check_status(self._native.last_error(), "CryptSignHash")
            buffer = ctypes.create_string_buffer(size.value)
            if not advapi.CryptSignHashW(hash_handle, self._key_spec, None, 0, buffer, ctypes.byref(size)):
                check_status(self._native.last_error(), "CryptSignHash")
            return capi_to_big_endian(buffer.raw[: size.value])
        finally:
            advapi.CryptDestroyHash(hash_handle)

    def close(self) -> None:
        if self._must_free.value and self._key.value:
            if self._key_spec.value == CERT_NCRYPT_KEY_SPEC:
                self._native.ncrypt.NCryptFreeObject(self._key)
            else:
                self._native.advapi32.CryptReleaseContext(self._key, 0)
            self._key = ULONG_PTR(0)
        if self._context:
            self._native.crypt32.CertFreeCertificateContext(self._context)
            self._context = None
