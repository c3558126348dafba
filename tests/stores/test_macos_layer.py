"""The macOS keychain layer, to the depth Linux allows.

Checked: function prototypes against the Security/CoreFoundation headers, the symbol
names and query, the algorithm per key and digest, OSStatus mapping, lazy loading and
routing. NOT checked: anything that needs the frameworks loaded - listing identities,
trust evaluation and signing have not run on a real macOS machine.
"""

from __future__ import annotations

import ctypes
import sys
from types import SimpleNamespace

import pytest

from rasign.backends.store import macos as mac
from rasign.backends.store import open_store
from rasign.errors import (
    AuthenticationError,
    BackendUnavailable,
    KeyLoadError,
    SigningError,
)
from rasign.options import SignerOptions
from rasign.signer import KeyKind

HEADER_PROTOTYPES = [
    # (function, parameter count, returns)
    ("SecItemCopyMatching", 2, mac.OSStatus),
    ("SecIdentityCopyCertificate", 2, mac.OSStatus),
    ("SecIdentityCopyPrivateKey", 2, mac.OSStatus),
    ("SecCertificateCopyData", 1, mac.CFTypeRef),
    ("SecKeyCreateSignature", 4, mac.CFTypeRef),
    ("SecPolicyCreateBasicX509", 0, mac.CFTypeRef),
    ("SecTrustCreateWithCertificates", 3, mac.OSStatus),
    ("SecTrustEvaluateWithError", 2, ctypes.c_bool),
    ("SecTrustGetCertificateCount", 1, mac.CFIndex),
    ("SecTrustGetCertificateAtIndex", 2, mac.CFTypeRef),
    ("CFDictionaryCreate", 6, mac.CFTypeRef),
    ("CFArrayGetCount", 1, mac.CFIndex),
    ("CFArrayGetValueAtIndex", 2, ctypes.c_void_p),
    ("CFDataCreate", 3, mac.CFTypeRef),
    ("CFDataGetLength", 1, mac.CFIndex),
    ("CFDataGetBytePtr", 1, ctypes.c_void_p),
    ("CFRetain", 1, mac.CFTypeRef),
    ("CFRelease", 1, None),
    ("CFErrorGetCode", 1, mac.CFIndex),
    ("CFErrorCopyDescription", 1, mac.CFTypeRef),
    ("CFStringGetCString", 4, mac.Boolean),
]


@pytest.mark.parametrize(("function", "count", "restype"), HEADER_PROTOTYPES)
def test_prototypes_match_the_headers(function: str, count: int, restype) -> None:
    table = mac.SECURITY if function.startswith("Sec") else mac.COREFOUNDATION
    declared_restype, argtypes = table[function]
    assert declared_restype is restype
    assert len(argtypes) == count


def test_every_declared_function_is_checked() -> None:
    assert set(mac.SECURITY) | set(mac.COREFOUNDATION) == {name for name, _, _ in HEADER_PROTOTYPES}


def test_out_parameters_are_pointers_and_types_are_lp64() -> None:
    for function in ("SecItemCopyMatching", "SecIdentityCopyCertificate", "SecIdentityCopyPrivateKey"):
        assert mac.SECURITY[function][1][1]._type_ is mac.CFTypeRef
    assert mac.SECURITY["SecKeyCreateSignature"][1][3]._type_ is mac.CFTypeRef
    assert ctypes.sizeof(mac.OSStatus) == 4 and ctypes.sizeof(mac.Boolean) == 1
    if ctypes.sizeof(ctypes.c_void_p) == 8:
        assert ctypes.sizeof(mac.CFIndex) == 8


def test_bind_without_loading_frameworks() -> None:
    class Function:
        restype = argtypes = None

    for table in (mac.SECURITY, mac.COREFOUNDATION):
        library = SimpleNamespace(**{name: Function() for name in table})
        mac.bind(library, table)
        for name, (restype, argtypes) in table.items():
            assert getattr(library, name).restype is restype and getattr(library, name).argtypes == list(argtypes)


def test_query_and_symbols() -> None:
    assert mac.QUERY == (
        ("kSecClass", "kSecClassIdentity"),
        ("kSecMatchLimit", "kSecMatchLimitAll"),
        ("kSecReturnRef", "kCFBooleanTrue"),
    )
    for key, value in mac.QUERY:
        assert key in mac.SECURITY_SYMBOLS
        assert value in mac.SECURITY_SYMBOLS or value in mac.COREFOUNDATION_SYMBOLS


@pytest.mark.parametrize(
    ("kind", "digest", "name"),
    [
        (KeyKind.RSA, "SHA256", "kSecKeyAlgorithmRSASignatureDigestPKCS1v15SHA256"),
        (KeyKind.RSA, "SHA512", "kSecKeyAlgorithmRSASignatureDigestPKCS1v15SHA512"),
        (KeyKind.EC, "SHA256", "kSecKeyAlgorithmECDSASignatureDigestX962SHA256"),
        (KeyKind.EC, "SHA384", "kSecKeyAlgorithmECDSASignatureDigestX962SHA384"),
    ],
)
def test_algorithm_per_key_and_digest(kind, digest, name) -> None:
    assert mac.algorithm_name(kind, digest) == name
    assert name in mac.SECURITY_SYMBOLS


def test_mldsa_has_no_keychain_algorithm() -> None:
    with pytest.raises(SigningError):
        mac.algorithm_name(KeyKind.MLDSA, "SHA256")


def test_status_codes() -> None:
    assert mac.errSecSuccess == 0 and mac.errSecItemNotFound == -25300 and mac.errSecUserCanceled == -128
    assert mac.errSecAuthFailed == -25293 and mac.errSecInteractionNotAllowed == -25308
    assert mac.kCFStringEncodingUTF8 == 0x08000100
    assert mac.status_error(0, "x") is None
    assert isinstance(mac.status_error(-128, "x"), AuthenticationError)
    assert isinstance(mac.status_error(-25308, "x"), AuthenticationError)
    not_found = mac.status_error(-25300, "x")
    assert isinstance(not_found, KeyLoadError) and not_found.message == "no matching identities"
    assert isinstance(mac.status_error(-1, "x"), SigningError)


def test_frameworks_load_lazily_and_only_on_macos() -> None:
    assert mac._API is None
    if sys.platform != "darwin":
        with pytest.raises(BackendUnavailable):
            mac.api()


def test_macos_routing_without_loading() -> None:
    store = open_store(SignerOptions(cert_selector=""), platform="darwin")
    assert isinstance(store, mac.KeychainStore)
    assert store.no_match_message == "no matching identities"
    store.close()  # nothing was opened: must not touch the frameworks
