"""macOS keychain identities through the Security framework, with ctypes only.

What it does (reference-helper.md 10.3, with the Go helper's chain quirk fixed):

- lists every identity (certificate + private key) in the keychain search list with
  ``SecItemCopyMatching`` (``kSecClassIdentity``, ``kSecMatchLimitAll``,
  ``kSecReturnRef``); certificates that do not parse are skipped, as in Go;
- signs with ``SecKeyCreateSignature`` over a locally computed digest, using the
  ``…RSASignatureDigestPKCS1v15SHA*`` or ``…ECDSASignatureDigestX962SHA*`` algorithm, whose
  output is already the wire form (PKCS#1 v1.5 bytes, DER ECDSA);
- builds the chain with ``SecTrust`` (basic X.509 policy) and sends the intermediates
  whatever the evaluation says; Go sent a chain only when evaluation *failed*.

Selection is the shared code in :mod:`backends.store.base`. The frameworks are loaded
lazily, inside functions, so importing this module anywhere is safe.

NOT RUN ON macOS: this module has only been imported and checked on Linux (function
prototypes, symbol names, status codes, algorithm choice). See docs/stores.md.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rasign.errors import (
    AuthenticationError,
    BackendUnavailable,
    KeyLoadError,
    SigningError,
)
from rasign.signer import KeyKind, Signer, hash_message

from .base import CertificateStore, NativeStoreSigner, StoreEntry
from .ctypes_binding import Signature, bind
from .selector import ERR_NO_MATCH

if TYPE_CHECKING:
    from cryptography import x509

SECURITY_PATH = "/System/Library/Frameworks/Security.framework/Security"
COREFOUNDATION_PATH = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation"

# ----------------------------------------------------------------------------- C types
CFTypeRef = ctypes.c_void_p
CFIndex = ctypes.c_long  # signed long: 64-bit on every supported macOS (LP64)
OSStatus = ctypes.c_int32
Boolean = ctypes.c_ubyte
CFStringEncoding = ctypes.c_uint32

# ----------------------------------------------------------------------------- constants
errSecSuccess = 0
errSecUserCanceled = -128
errSecAuthFailed = -25293
errSecItemNotFound = -25300
errSecInteractionNotAllowed = -25308
kCFStringEncodingUTF8 = 0x08000100

ALGORITHMS = {
    (KeyKind.RSA, "SHA256"): "kSecKeyAlgorithmRSASignatureDigestPKCS1v15SHA256",
    (KeyKind.RSA, "SHA384"): "kSecKeyAlgorithmRSASignatureDigestPKCS1v15SHA384",
    (KeyKind.RSA, "SHA512"): "kSecKeyAlgorithmRSASignatureDigestPKCS1v15SHA512",
    (KeyKind.EC, "SHA256"): "kSecKeyAlgorithmECDSASignatureDigestX962SHA256",
    (KeyKind.EC, "SHA384"): "kSecKeyAlgorithmECDSASignatureDigestX962SHA384",
    (KeyKind.EC, "SHA512"): "kSecKeyAlgorithmECDSASignatureDigestX962SHA512",
}
"""SecKeyAlgorithm per key family and digest: the key signs a digest we computed."""

QUERY = (
    ("kSecClass", "kSecClassIdentity"),
    ("kSecMatchLimit", "kSecMatchLimitAll"),
    ("kSecReturnRef", "kCFBooleanTrue"),
)
"""``SecItemCopyMatching`` query: every identity in the search list, as references."""

SECURITY_SYMBOLS = (
    "kSecClass",
    "kSecClassIdentity",
    "kSecMatchLimit",
    "kSecMatchLimitAll",
    "kSecReturnRef",
    *ALGORITHMS.values(),
)
COREFOUNDATION_SYMBOLS = (
    "kCFBooleanTrue",
    "kCFTypeDictionaryKeyCallBacks",
    "kCFTypeDictionaryValueCallBacks",
    "kCFTypeArrayCallBacks",
)
_CALLBACK_SYMBOLS = {"kCFTypeDictionaryKeyCallBacks", "kCFTypeDictionaryValueCallBacks", "kCFTypeArrayCallBacks"}

# ----------------------------------------------------------------------------- prototypes
P = ctypes.POINTER

SECURITY: dict[str, Signature] = {
    # OSStatus SecItemCopyMatching(CFDictionaryRef query, CFTypeRef *result)
    "SecItemCopyMatching": (OSStatus, (CFTypeRef, P(CFTypeRef))),
    # OSStatus SecIdentityCopyCertificate(SecIdentityRef identityRef, SecCertificateRef *certificateRef)
    "SecIdentityCopyCertificate": (OSStatus, (CFTypeRef, P(CFTypeRef))),
    # OSStatus SecIdentityCopyPrivateKey(SecIdentityRef identityRef, SecKeyRef *privateKeyRef)
    "SecIdentityCopyPrivateKey": (OSStatus, (CFTypeRef, P(CFTypeRef))),
    # CFDataRef SecCertificateCopyData(SecCertificateRef certificate)
    "SecCertificateCopyData": (CFTypeRef, (CFTypeRef,)),
    # CFDataRef SecKeyCreateSignature(SecKeyRef key, SecKeyAlgorithm algorithm, CFDataRef dataToSign, CFErrorRef *error)
    "SecKeyCreateSignature": (CFTypeRef, (CFTypeRef, CFTypeRef, CFTypeRef, P(CFTypeRef))),
    # SecPolicyRef SecPolicyCreateBasicX509(void)
    "SecPolicyCreateBasicX509": (CFTypeRef, ()),
    # OSStatus SecTrustCreateWithCertificates(CFTypeRef certificates, CFTypeRef policies, SecTrustRef *trust)
    "SecTrustCreateWithCertificates": (OSStatus, (CFTypeRef, CFTypeRef, P(CFTypeRef))),
    # bool SecTrustEvaluateWithError(SecTrustRef trust, CFErrorRef *error)
    "SecTrustEvaluateWithError": (ctypes.c_bool, (CFTypeRef, P(CFTypeRef))),
    # CFIndex SecTrustGetCertificateCount(SecTrustRef trust)
    "SecTrustGetCertificateCount": (CFIndex, (CFTypeRef,)),
    # SecCertificateRef SecTrustGetCertificateAtIndex(SecTrustRef trust, CFIndex ix)
    "SecTrustGetCertificateAtIndex": (CFTypeRef, (CFTypeRef, CFIndex)),
}

COREFOUNDATION: dict[str, Signature] = {
    # CFDictionaryRef CFDictionaryCreate(CFAllocatorRef allocator, const void **keys, const void **values,
    #     CFIndex numValues, const CFDictionaryKeyCallBacks *keyCallBacks,
    #     const CFDictionaryValueCallBacks *valueCallBacks)
    "CFDictionaryCreate": (
        CFTypeRef,
        (CFTypeRef, P(ctypes.c_void_p), P(ctypes.c_void_p), CFIndex, ctypes.c_void_p, ctypes.c_void_p),
    ),
    # CFIndex CFArrayGetCount(CFArrayRef theArray)
    "CFArrayGetCount": (CFIndex, (CFTypeRef,)),
    # const void *CFArrayGetValueAtIndex(CFArrayRef theArray, CFIndex idx)
    "CFArrayGetValueAtIndex": (ctypes.c_void_p, (CFTypeRef, CFIndex)),
    # CFDataRef CFDataCreate(CFAllocatorRef allocator, const UInt8 *bytes, CFIndex length)
    "CFDataCreate": (CFTypeRef, (CFTypeRef, ctypes.c_char_p, CFIndex)),
    # CFIndex CFDataGetLength(CFDataRef theData)
    "CFDataGetLength": (CFIndex, (CFTypeRef,)),
    # const UInt8 *CFDataGetBytePtr(CFDataRef theData)
    "CFDataGetBytePtr": (ctypes.c_void_p, (CFTypeRef,)),
    # CFTypeRef CFRetain(CFTypeRef cf) / void CFRelease(CFTypeRef cf)
    "CFRetain": (CFTypeRef, (CFTypeRef,)),
    "CFRelease": (None, (CFTypeRef,)),
    # CFIndex CFErrorGetCode(CFErrorRef err)
    "CFErrorGetCode": (CFIndex, (CFTypeRef,)),
    # CFStringRef CFErrorCopyDescription(CFErrorRef err)
    "CFErrorCopyDescription": (CFTypeRef, (CFTypeRef,)),
    # Boolean CFStringGetCString(CFStringRef theString, char *buffer, CFIndex bufferSize, CFStringEncoding encoding)
    "CFStringGetCString": (Boolean, (CFTypeRef, ctypes.c_char_p, CFIndex, CFStringEncoding)),
}


@dataclass
class _Api:
    security: Any
    cf: Any
    symbols: dict[str, Any]
    """CFStringRef constants by name (pointer values) and callback tables (addresses)."""


_API: _Api | None = None


def api() -> _Api:
    """Load and bind the two frameworks once; only ever called on macOS."""
    global _API
    if _API is None:
        import sys

        if sys.platform != "darwin":
            raise BackendUnavailable("the macOS keychain is only available on macOS")
        security = bind(ctypes.CDLL(SECURITY_PATH), SECURITY)
        cf = bind(ctypes.CDLL(COREFOUNDATION_PATH), COREFOUNDATION)
        symbols: dict[str, Any] = {}
        for name in SECURITY_SYMBOLS:
            symbols[name] = ctypes.c_void_p.in_dll(security, name).value
        for name in COREFOUNDATION_SYMBOLS:
            if name in _CALLBACK_SYMBOLS:
                symbols[name] = ctypes.addressof(ctypes.c_byte.in_dll(cf, name))
            else:
                symbols[name] = ctypes.c_void_p.in_dll(cf, name).value
        _API = _Api(security, cf, symbols)
    return _API


def status_error(status: int, call: str) -> Exception | None:
    """The rasign error for an OSStatus / CFError code (None for success)."""
    if status == errSecSuccess:
        return None
    if status == errSecUserCanceled:
        return AuthenticationError(f"{call}: the keychain prompt was cancelled")
    if status == errSecAuthFailed:
        return AuthenticationError(f"{call}: wrong keychain password", hint="rasign does not retry; run again")
    if status == errSecInteractionNotAllowed:
        return AuthenticationError(
            f"{call}: the keychain needs user interaction that is not allowed here (locked keychain or no GUI session)",
            hint="unlock the keychain, or allow rasign in the key's access control list",
        )
    if status == errSecItemNotFound:
        return KeyLoadError(ERR_NO_MATCH, hint="the keychain search list holds no identity")
    return SigningError(f"{call} failed with OSStatus {status}")


def algorithm_name(kind: KeyKind, digest: str) -> str:
    """The SecKeyAlgorithm constant for a key family and digest."""
    try:
        return ALGORITHMS[(kind, digest)]
    except KeyError:
        raise SigningError(f"the keychain cannot sign {kind.value} keys with {digest}") from None


def _cf_bytes(native: _Api, data: Any) -> bytes:
    length = native.cf.CFDataGetLength(data)
    return ctypes.string_at(native.cf.CFDataGetBytePtr(data), length)


def _certificate_der(native: _Api, certificate_ref: Any) -> bytes:
    data = native.security.SecCertificateCopyData(certificate_ref)
    if not data:
        raise KeyLoadError("SecCertificateCopyData returned nothing")
    try:
        return _cf_bytes(native, data)
    finally:
        native.cf.CFRelease(data)


def _error_text(native: _Api, error: Any) -> tuple[int, str]:
    code = int(native.cf.CFErrorGetCode(error))
    description = native.cf.CFErrorCopyDescription(error)
    text = ""
    if description:
        buffer = ctypes.create_string_buffer(1024)
        if native.cf.CFStringGetCString(description, buffer, len(buffer), kCFStringEncodingUTF8):
            text = buffer.value.decode("utf-8", "replace")
        native.cf.CFRelease(description)
    return code, text


class KeychainStore(CertificateStore):
    """Identities in the keychain search list."""

    description = "the macOS keychain search list"
    no_match_message = ERR_NO_MATCH

    def __init__(self) -> None:
        self._array: Any = None

    def entries(self) -> list[StoreEntry]:
        from cryptography import x509

        native = api()
        keys = (ctypes.c_void_p * len(QUERY))(*(native.symbols[key] for key, _ in QUERY))
        values = (ctypes.c_void_p * len(QUERY))(*(native.symbols[value] for _, value in QUERY))
        query = native.cf.CFDictionaryCreate(
            None,
            keys,
            values,
            len(QUERY),
            native.symbols["kCFTypeDictionaryKeyCallBacks"],
            native.symbols["kCFTypeDictionaryValueCallBacks"],
        )
        result = CFTypeRef()
        try:
            status = native.security.SecItemCopyMatching(query, ctypes.byref(result))
        finally:
            native.cf.CFRelease(query)
        if status == errSecItemNotFound:
            return []
        error = status_error(status, "SecItemCopyMatching")
        if error is not None:
            raise error
        self._array = result
        entries = []
        for index in range(native.cf.CFArrayGetCount(result)):
            identity = native.cf.CFArrayGetValueAtIndex(result, index)
            certificate_ref = CFTypeRef()
            if native.security.SecIdentityCopyCertificate(identity, ctypes.byref(certificate_ref)) != errSecSuccess:
                continue
            try:
                certificate = x509.load_der_x509_certificate(_certificate_der(native, certificate_ref))
            except ValueError:
                continue  # Go skips certificates that do not parse
            finally:
                native.cf.CFRelease(certificate_ref)
            entries.append(StoreEntry(certificate, "macOS keychain", handle=identity))
        return entries

    def open_signer(self, entry: StoreEntry) -> Signer:
        native = api()
        key = CFTypeRef()
        error = status_error(
            native.security.SecIdentityCopyPrivateKey(entry.handle, ctypes.byref(key)), "SecIdentityCopyPrivateKey"
        )
        if error is not None:
            raise error
        chain = self._chain(native, entry.handle)
        return KeychainSigner(native, key, entry.certificate, chain)

    @staticmethod
    def _chain(native: _Api, identity: Any) -> list[x509.Certificate]:
        """Intermediates from trust evaluation (leaf and self-signed root excluded)."""
        from cryptography import x509

        certificate_ref = CFTypeRef()
        if native.security.SecIdentityCopyCertificate(identity, ctypes.byref(certificate_ref)) != errSecSuccess:
            return []
        policy = native.security.SecPolicyCreateBasicX509()
        trust = CFTypeRef()
        try:
            if (
                native.security.SecTrustCreateWithCertificates(certificate_ref, policy, ctypes.byref(trust))
                != errSecSuccess
            ):
                return []
            error = CFTypeRef()
            native.security.SecTrustEvaluateWithError(trust, ctypes.byref(error))  # result deliberately unused
            if error:
                native.cf.CFRelease(error)
            count = native.security.SecTrustGetCertificateCount(trust)
            chain = []
            for index in range(1, count):
                cert = x509.load_der_x509_certificate(
                    _certificate_der(native, native.security.SecTrustGetCertificateAtIndex(trust, index))
                )
                if index == count - 1 and cert.subject == cert.issuer:
                    continue
                chain.append(cert)
            return chain
        finally:
            if trust:
                native.cf.CFRelease(trust)
            if policy:
                native.cf.CFRelease(policy)
            native.cf.CFRelease(certificate_ref)

    def close(self) -> None:
        if self._array:
            api().cf.CFRelease(self._array)
            self._array = None


class KeychainSigner(NativeStoreSigner):
    """Signs with a keychain private key (SecKeyRef)."""

    def __init__(self, native: _Api, key: Any, certificate: x509.Certificate, chain: list[x509.Certificate]) -> None:
        super().__init__(certificate, chain, "the macOS keychain")
        self._native = native
        self._key = key

    def describe(self) -> str:
        return f"store {self._kind.value} key in the macOS keychain"

    def sign(self, message: bytes, digest: str = "SHA256") -> bytes:
        native = self._native
        algorithm = native.symbols[algorithm_name(self._kind, digest)]
        digest_bytes = hash_message(message, digest)
        data = native.cf.CFDataCreate(None, digest_bytes, len(digest_bytes))
        error = CFTypeRef()
        try:
            signature = native.security.SecKeyCreateSignature(self._key, algorithm, data, ctypes.byref(error))
        finally:
            native.cf.CFRelease(data)
        if not signature:
            code, text = _error_text(native, error) if error else (0, "")
            if error:
                native.cf.CFRelease(error)
            mapped = status_error(code, "SecKeyCreateSignature") if code else None
            if isinstance(mapped, AuthenticationError):
                raise mapped
            raise SigningError(f"SecKeyCreateSignature failed ({code}): {text or 'no description'}")
        try:
            return _cf_bytes(native, signature)
        finally:
            native.cf.CFRelease(signature)

    def close(self) -> None:
        if self._key:
            self._native.cf.CFRelease(self._key)
            self._key = None
