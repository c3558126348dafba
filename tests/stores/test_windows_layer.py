"""The Windows store layer, to the depth Linux allows.

Checked here: every constant against its value in the Windows SDK headers, the ctypes
signature of every function (argument count and types, return type) against the SDK
prototype, structure layouts against their 64-bit C layout, store-name parsing, the
silent-then-UI retry rule, signature conversions (CNG raw ECDSA, CryptoAPI byte order)
and chain trimming. NOT checked: anything that needs crypt32/ncrypt/advapi32 to be
loaded - enumeration, key acquisition and signing have not run on a real Windows machine.
"""

from __future__ import annotations

import ctypes
import sys
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from rasign.backends.store import open_store
from rasign.backends.store import windows as win
from rasign.errors import (
    AuthenticationError,
    BackendUnavailable,
    SigningError,
    UsageError,
)
from rasign.options import SignerOptions
from rasign.signer import KeyKind, verify_signature

from .conftest import make_cert, make_key

SDK_CONSTANTS = {
    "X509_ASN_ENCODING": 0x1,
    "PKCS_7_ASN_ENCODING": 0x10000,
    "CERT_STORE_PROV_SYSTEM_W": 10,
    "CERT_STORE_OPEN_EXISTING_FLAG": 0x4000,
    "CERT_STORE_READONLY_FLAG": 0x8000,
    "CERT_SYSTEM_STORE_CURRENT_USER": 0x10000,
    "CERT_SYSTEM_STORE_LOCAL_MACHINE": 0x20000,
    "CERT_SYSTEM_STORE_CURRENT_SERVICE": 0x40000,
    "CERT_SYSTEM_STORE_SERVICES": 0x50000,
    "CERT_SYSTEM_STORE_USERS": 0x60000,
    "CERT_SYSTEM_STORE_CURRENT_USER_GROUP_POLICY": 0x70000,
    "CERT_SYSTEM_STORE_LOCAL_MACHINE_GROUP_POLICY": 0x80000,
    "CERT_SYSTEM_STORE_LOCAL_MACHINE_ENTERPRISE": 0x90000,
    "CERT_CHAIN_FIND_BY_ISSUER": 1,
    "CERT_CHAIN_FIND_BY_ISSUER_CACHE_ONLY_URL_FLAG": 0x4,
    "CERT_CHAIN_FIND_BY_ISSUER_CACHE_ONLY_FLAG": 0x8000,
    "CRYPT_ACQUIRE_CACHE_FLAG": 0x1,
    "CRYPT_ACQUIRE_SILENT_FLAG": 0x40,
    "CRYPT_ACQUIRE_ALLOW_NCRYPT_KEY_FLAG": 0x10000,
    "CRYPT_ACQUIRE_PREFER_NCRYPT_KEY_FLAG": 0x20000,
    "CERT_NCRYPT_KEY_SPEC": 0xFFFFFFFF,
    "AT_KEYEXCHANGE": 1,
    "AT_SIGNATURE": 2,
    "NCRYPT_SILENT_FLAG": 0x40,
    "BCRYPT_PAD_PKCS1": 0x2,
    "NTE_BAD_KEYSET": 0x80090016,
    "NTE_SILENT_CONTEXT": 0x80090022,
    "NTE_USER_CANCELLED": 0x80090036,
    "SCARD_W_WRONG_CHV": 0x8010006B,
    "SCARD_W_CANCELLED_BY_USER": 0x8010006E,
    "CRYPT_E_NOT_FOUND": 0x80092004,
    "CALG_SHA_256": 0x800C,
    "CALG_SHA_384": 0x800D,
    "CALG_SHA_512": 0x800E,
    "HP_HASHVAL": 0x2,
}


@pytest.mark.parametrize(("name", "value"), sorted(SDK_CONSTANTS.items()))
def test_constants_have_sdk_values(name: str, value: int) -> None:
    assert getattr(win, name) == value


# (library, function, number of parameters in the SDK prototype, returns)
SDK_PROTOTYPES = [
    ("crypt32", "CertOpenStore", 5, win.HCERTSTORE),
    ("crypt32", "CertCloseStore", 2, win.BOOL),
    ("crypt32", "CertFindChainInStore", 6, win.PCCERT_CHAIN_CONTEXT),
    ("crypt32", "CertFreeCertificateChain", 1, None),
    ("crypt32", "CertEnumCertificatesInStore", 2, win.PCCERT_CONTEXT),
    ("crypt32", "CertDuplicateCertificateContext", 1, win.PCCERT_CONTEXT),
    ("crypt32", "CertFreeCertificateContext", 1, win.BOOL),
    ("crypt32", "CryptAcquireCertificatePrivateKey", 6, win.BOOL),
    ("ncrypt", "NCryptSignHash", 8, win.SECURITY_STATUS),
    ("ncrypt", "NCryptFreeObject", 1, win.SECURITY_STATUS),
    ("advapi32", "CryptCreateHash", 5, win.BOOL),
    ("advapi32", "CryptSetHashParam", 4, win.BOOL),
    ("advapi32", "CryptSignHashW", 6, win.BOOL),
    ("advapi32", "CryptDestroyHash", 1, win.BOOL),
    ("advapi32", "CryptReleaseContext", 2, win.BOOL),
]


@pytest.mark.parametrize(("library", "function", "count", "restype"), SDK_PROTOTYPES)
def test_prototypes_match_the_sdk(library: str, function: str, count: int, restype) -> None:
    declared_restype, argtypes = win.LIBRARIES[library][function]
    assert declared_restype is restype
    assert len(argtypes) == count


def test_every_declared_function_is_checked() -> None:
    declared = {(lib, name) for lib, table in win.LIBRARIES.items() for name in table}
    assert declared == {(lib, name) for lib, name, _, _ in SDK_PROTOTYPES}


def test_argument_types_that_matter() -> None:
    # Handles are pointer-sized, DWORDs are 32-bit on every platform, out-parameters are pointers.
    assert ctypes.sizeof(win.DWORD) == 4 and ctypes.sizeof(win.BOOL) == 4 and ctypes.sizeof(win.SECURITY_STATUS) == 4
    assert ctypes.sizeof(win.ULONG_PTR) == ctypes.sizeof(ctypes.c_void_p)
    _, acquire = win.CRYPT32["CryptAcquireCertificatePrivateKey"]
    assert acquire[0] is win.PCCERT_CONTEXT and acquire[1] is win.DWORD
    assert acquire[3]._type_ is win.ULONG_PTR and acquire[4]._type_ is win.DWORD and acquire[5]._type_ is win.BOOL
    _, sign = win.NCRYPT["NCryptSignHash"]
    assert (
        sign[0] is win.NCRYPT_HANDLE and sign[3] is win.DWORD and sign[6]._type_ is win.DWORD and sign[7] is win.DWORD
    )
    _, find = win.CRYPT32["CertFindChainInStore"]
    assert find[0] is win.HCERTSTORE and find[5] is win.PCCERT_CHAIN_CONTEXT


def test_bind_sets_restype_and_argtypes_without_loading_any_dll() -> None:
    class Function:
        restype = argtypes = None

    for table in win.LIBRARIES.values():
        library = SimpleNamespace(**{name: Function() for name in table})
        win.bind(library, table)
        for name, (restype, argtypes) in table.items():
            assert getattr(library, name).restype is restype
            assert getattr(library, name).argtypes == list(argtypes)


@pytest.mark.skipif(ctypes.sizeof(ctypes.c_void_p) != 8, reason="layouts below are the 64-bit ones")
def test_structure_layouts_are_the_64_bit_c_layouts() -> None:
    assert ctypes.sizeof(win.CERT_CONTEXT) == 40
    assert win.CERT_CONTEXT.pbCertEncoded.offset == 8 and win.CERT_CONTEXT.cbCertEncoded.offset == 16
    assert win.CERT_CHAIN_CONTEXT.rgpChain.offset == 16 and win.CERT_CHAIN_CONTEXT.cChain.offset == 12
    assert ctypes.sizeof(win.CERT_CHAIN_CONTEXT) == 72
    assert win.CERT_SIMPLE_CHAIN.cElement.offset == 12 and win.CERT_SIMPLE_CHAIN.rgpElement.offset == 16
    assert win.CERT_CHAIN_ELEMENT.pCertContext.offset == 8
    assert ctypes.sizeof(win.CERT_CHAIN_FIND_BY_ISSUER_PARA) == 72
    assert win.CERT_CHAIN_FIND_BY_ISSUER_PARA.rgIssuer.offset == 32
    assert ctypes.sizeof(win.GUID) == 16
    assert ctypes.sizeof(win.BCRYPT_PKCS1_PADDING_INFO) == 8


def test_dlls_are_not_loaded_on_import_and_refuse_off_windows() -> None:
    assert win._API is None
    if sys.platform != "win32":
        with pytest.raises(BackendUnavailable):
            win.api()


# ----------------------------------------------------------------------------- store names


@pytest.mark.parametrize(
    ("text", "location", "flag", "name"),
    [
        (None, "CurrentUser", 0x10000, "MY"),
        ("my", "CurrentUser", 0x10000, "MY"),
        ("root", "CurrentUser", 0x10000, "Root"),
        ("trust", "CurrentUser", 0x10000, "Trust"),
        ("ca", "CurrentUser", 0x10000, "CA"),
        ("Custom Store", "CurrentUser", 0x10000, "Custom Store"),
        ("LocalMachine\\My", "LocalMachine", 0x20000, "MY"),
        ("localmachine/ROOT", "LocalMachine", 0x20000, "Root"),
        ("Cert:\\LocalMachine\\My", "LocalMachine", 0x20000, "MY"),
        ("cert:/CurrentUser/Remote Desktop", "CurrentUser", 0x10000, "Remote Desktop"),
        ("Services\\My", "Services", 0x50000, "MY"),
    ],
)
def test_store_names(text, location, flag, name) -> None:
    parsed = win.parse_store_name(text)
    assert (parsed.location, parsed.flag, parsed.name) == (location, flag, name)


def test_bad_store_names() -> None:
    with pytest.raises(UsageError, match="unknown Windows certificate store location"):
        win.parse_store_name("Nowhere\\My")
    with pytest.raises(UsageError):
        win.parse_store_name("a\\b\\c")


def test_looks_like_store_path() -> None:
    assert win.looks_like_store_path("LocalMachine\\My")
    assert win.looks_like_store_path("Cert:\\CurrentUser\\Root")
    assert not win.looks_like_store_path("C:\\certs")
    assert not win.looks_like_store_path("/etc/rasign/identities")


def test_windows_routing_without_loading_dlls(tmp_path) -> None:
    store = open_store(SignerOptions(cert_selector="", system_store_name="LocalMachine\\My"), platform="win32")
    assert isinstance(store, win.WindowsStore) and store.description == "LocalMachine\\MY"
    assert store.no_match_message == "no matching certs found in cert store"
    by_flag = open_store(SignerOptions(cert_store="Cert:\\LocalMachine\\Root"), platform="win32")
    assert isinstance(by_flag, win.WindowsStore) and str(by_flag.store) == "LocalMachine\\Root"
    default = open_store(SignerOptions(cert_selector=""), platform="win32")
    assert str(default.store) == "CurrentUser\\MY"
    from rasign.backends.store.directory import DirectoryStore

    assert isinstance(open_store(SignerOptions(cert_store=str(tmp_path)), platform="win32"), DirectoryStore)


# ----------------------------------------------------------------------------- signing rules


def test_silent_first_then_ui_only_on_nte_silent_context() -> None:
    calls = []

    def attempt(flags: int):
        calls.append(flags)
        if flags & win.NCRYPT_SILENT_FLAG:
            return win.NTE_SILENT_CONTEXT - (1 << 32), b""  # SECURITY_STATUS is a signed LONG
        return 0, b"signature"

    assert win.silent_then_ui(attempt, win.BCRYPT_PAD_PKCS1) == b"signature"
    assert calls == [win.BCRYPT_PAD_PKCS1 | win.NCRYPT_SILENT_FLAG, win.BCRYPT_PAD_PKCS1]


def test_no_retry_on_other_errors_and_wrong_pin_is_final() -> None:
    calls = []

    def wrong_pin(flags: int):
        calls.append(flags)
        return win.SCARD_W_WRONG_CHV, b""

    with pytest.raises(AuthenticationError, match="wrong smart card PIN"):
        win.silent_then_ui(wrong_pin, 0)
    assert calls == [win.NCRYPT_SILENT_FLAG]
    with pytest.raises(SigningError, match="0x80090016"):
        win.silent_then_ui(lambda flags: (win.NTE_BAD_KEYSET, b""), 0)


def test_ui_refused_too_is_explained() -> None:
    with pytest.raises(AuthenticationError, match="NTE_SILENT_CONTEXT"):
        win.silent_then_ui(lambda flags: (win.NTE_SILENT_CONTEXT, b""), 0)


def test_cng_raw_ecdsa_becomes_der() -> None:
    key = make_key("ec")
    message = b"string to sign"
    der = key.sign(message, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # what NCryptSignHash returns
    wire = win.ncrypt_signature_to_wire(raw, KeyKind.EC)
    assert verify_signature(key.public_key(), wire, message)


def test_capi_little_endian_rsa_is_reversed() -> None:
    key = make_key("rsa")
    message = b"string to sign"
    big_endian = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    assert win.capi_to_big_endian(big_endian[::-1]) == big_endian
    assert win.ncrypt_signature_to_wire(big_endian, KeyKind.RSA) == big_endian


def test_chain_excludes_leaf_and_self_signed_root() -> None:
    root_key, mid_key = make_key(), make_key()
    root, _ = make_cert("CN=Root", key=root_key)
    mid, _ = make_cert("CN=Mid", key=mid_key, issuer="CN=Root", issuer_key=root_key)
    leaf, _ = make_cert("CN=Leaf", issuer="CN=Mid", issuer_key=mid_key)
    der = [c.public_bytes(serialization.Encoding.DER) for c in (leaf, mid, root)]
    assert win.chain_from_elements(der) == [der[1]]
    assert win.chain_from_elements(der[:2]) == [der[1]]  # chain ending at an intermediate
    assert win.chain_from_elements(der[:1]) == []
