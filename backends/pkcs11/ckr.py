"""CKR names for PKCS#11 return values and python-pkcs11's exceptions.

python-pkcs11 turns return values into exception classes (``SlotIDInvalid``) and keeps no
code; a few codes become a bare ``PKCS11Error`` with a fixed sentence, and unknown ones
"Unmapped error code 0x...". Users and bug reports need the standard name
(``CKR_SLOT_ID_INVALID``), so these tables give it back. ``EXCEPTION_CKR`` and
``MESSAGE_CKR`` are python-pkcs11 0.10.1's own ``map_rv_to_error`` read backwards
(tests/pkcs11/test_ckr.py checks them against the installed ``_pkcs11.pxd``); ``CKR_NAMES``
are the return values of PKCS#11 2.40 + 3.0 (from p11-kit's ``pkcs11.h``).
"""

from __future__ import annotations

import re

CKR_NAMES: dict[int, str] = {
    0x0: "CKR_OK",
    0x1: "CKR_CANCEL",
    0x2: "CKR_HOST_MEMORY",
    0x3: "CKR_SLOT_ID_INVALID",
    0x5: "CKR_GENERAL_ERROR",
    0x6: "CKR_FUNCTION_FAILED",
    0x7: "CKR_ARGUMENTS_BAD",
    0x8: "CKR_NO_EVENT",
    0x9: "CKR_NEED_TO_CREATE_THREADS",
    0xA: "CKR_CANT_LOCK",
    0x10: "CKR_ATTRIBUTE_READ_ONLY",
    0x11: "CKR_ATTRIBUTE_SENSITIVE",
    0x12: "CKR_ATTRIBUTE_TYPE_INVALID",
    0x13: "CKR_ATTRIBUTE_VALUE_INVALID",
    0x1B: "CKR_ACTION_PROHIBITED",
    0x20: "CKR_DATA_INVALID",
    0x21: "CKR_DATA_LEN_RANGE",
    0x30: "CKR_DEVICE_ERROR",
    0x31: "CKR_DEVICE_MEMORY",
    0x32: "CKR_DEVICE_REMOVED",
    0x40: "CKR_ENCRYPTED_DATA_INVALID",
    0x41: "CKR_ENCRYPTED_DATA_LEN_RANGE",
    0x50: "CKR_FUNCTION_CANCELED",
    0x51: "CKR_FUNCTION_NOT_PARALLEL",
    0x54: "CKR_FUNCTION_NOT_SUPPORTED",
    0x60: "CKR_KEY_HANDLE_INVALID",
    0x62: "CKR_KEY_SIZE_RANGE",
    0x63: "CKR_KEY_TYPE_INCONSISTENT",
    0x64: "CKR_KEY_NOT_NEEDED",
    0x65: "CKR_KEY_CHANGED",
    0x66: "CKR_KEY_NEEDED",
    0x67: "CKR_KEY_INDIGESTIBLE",
    0x68: "CKR_KEY_FUNCTION_NOT_PERMITTED",
    0x69: "CKR_KEY_NOT_WRAPPABLE",
    0x6A: "CKR_KEY_UNEXTRACTABLE",
    0x70: "CKR_MECHANISM_INVALID",
    0x71: "CKR_MECHANISM_PARAM_INVALID",
    0x82: "CKR_OBJECT_HANDLE_INVALID",
    0x90: "CKR_OPERATION_ACTIVE",
    0x91: "CKR_OPERATION_NOT_INITIALIZED",
    0xA0: "CKR_PIN_INCORRECT",
    0xA1: "CKR_PIN_INVALID",
    0xA2: "CKR_PIN_LEN_RANGE",
    0xA3: "CKR_PIN_EXPIRED",
    0xA4: "CKR_PIN_LOCKED",
    0xB0: "CKR_SESSION_CLOSED",
    0xB1: "CKR_SESSION_COUNT",
    0xB3: "CKR_SESSION_HANDLE_INVALID",
    0xB4: "CKR_SESSION_PARALLEL_NOT_SUPPORTED",
    0xB5: "CKR_SESSION_READ_ONLY",
    0xB6: "CKR_SESSION_EXISTS",
    0xB7: "CKR_SESSION_READ_ONLY_EXISTS",
    0xB8: "CKR_SESSION_READ_WRITE_SO_EXISTS",
    0xC0: "CKR_SIGNATURE_INVALID",
    0xC1: "CKR_SIGNATURE_LEN_RANGE",
    0xD0: "CKR_TEMPLATE_INCOMPLETE",
    0xD1: "CKR_TEMPLATE_INCONSISTENT",
    0xE0: "CKR_TOKEN_NOT_PRESENT",
    0xE1: "CKR_TOKEN_NOT_RECOGNIZED",
    0xE2: "CKR_TOKEN_WRITE_PROTECTED",
    0xF0: "CKR_UNWRAPPING_KEY_HANDLE_INVALID",
    0xF1: "CKR_UNWRAPPING_KEY_SIZE_RANGE",
    0xF2: "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
    0x100: "CKR_USER_ALREADY_LOGGED_IN",
    0x101: "CKR_USER_NOT_LOGGED_IN",
    0x102: "CKR_USER_PIN_NOT_INITIALIZED",
    0x103: "CKR_USER_TYPE_INVALID",
    0x104: "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
    0x105: "CKR_USER_TOO_MANY_TYPES",
    0x110: "CKR_WRAPPED_KEY_INVALID",
    0x112: "CKR_WRAPPED_KEY_LEN_RANGE",
    0x113: "CKR_WRAPPING_KEY_HANDLE_INVALID",
    0x114: "CKR_WRAPPING_KEY_SIZE_RANGE",
    0x115: "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",
    0x120: "CKR_RANDOM_SEED_NOT_SUPPORTED",
    0x121: "CKR_RANDOM_NO_RNG",
    0x130: "CKR_DOMAIN_PARAMS_INVALID",
    0x140: "CKR_CURVE_NOT_SUPPORTED",
    0x150: "CKR_BUFFER_TOO_SMALL",
    0x160: "CKR_SAVED_STATE_INVALID",
    0x170: "CKR_INFORMATION_SENSITIVE",
    0x180: "CKR_STATE_UNSAVEABLE",
    0x190: "CKR_CRYPTOKI_NOT_INITIALIZED",
    0x191: "CKR_CRYPTOKI_ALREADY_INITIALIZED",
    0x1A0: "CKR_MUTEX_BAD",
    0x1A1: "CKR_MUTEX_NOT_LOCKED",
    0x1B0: "CKR_NEW_PIN_MODE",
    0x1B1: "CKR_NEXT_OTP",
    0x1C0: "CKR_EXCEEDED_MAX_ITERATIONS",
    0x1C1: "CKR_FIPS_SELF_TEST_FAILED",
    0x1C2: "CKR_LIBRARY_LOAD_FAILED",
    0x1C3: "CKR_PIN_TOO_WEAK",
    0x1C4: "CKR_PUBLIC_KEY_INVALID",
    0x200: "CKR_FUNCTION_REJECTED",
}
"""Standard return value -> name."""

EXCEPTION_CKR: dict[str, str] = {
    "AttributeTypeInvalid": "CKR_ATTRIBUTE_TYPE_INVALID",
    "AttributeValueInvalid": "CKR_ATTRIBUTE_VALUE_INVALID",
    "AttributeReadOnly": "CKR_ATTRIBUTE_READ_ONLY",
    "AttributeSensitive": "CKR_ATTRIBUTE_SENSITIVE",
    "ArgumentsBad": "CKR_ARGUMENTS_BAD",
    "DataInvalid": "CKR_DATA_INVALID",
    "DataLenRange": "CKR_DATA_LEN_RANGE",
    "DomainParamsInvalid": "CKR_DOMAIN_PARAMS_INVALID",
    "DeviceError": "CKR_DEVICE_ERROR",
    "DeviceMemory": "CKR_DEVICE_MEMORY",
    "DeviceRemoved": "CKR_DEVICE_REMOVED",
    "EncryptedDataInvalid": "CKR_ENCRYPTED_DATA_INVALID",
    "EncryptedDataLenRange": "CKR_ENCRYPTED_DATA_LEN_RANGE",
    "ExceededMaxIterations": "CKR_EXCEEDED_MAX_ITERATIONS",
    "FunctionCancelled": "CKR_FUNCTION_CANCELED",
    "FunctionFailed": "CKR_FUNCTION_FAILED",
    "FunctionRejected": "CKR_FUNCTION_REJECTED",
    "FunctionNotSupported": "CKR_FUNCTION_NOT_SUPPORTED",
    "KeyHandleInvalid": "CKR_KEY_HANDLE_INVALID",
    "KeyIndigestible": "CKR_KEY_INDIGESTIBLE",
    "KeyNeeded": "CKR_KEY_NEEDED",
    "KeyNotNeeded": "CKR_KEY_NOT_NEEDED",
    "KeySizeRange": "CKR_KEY_SIZE_RANGE",
    "KeyNotWrappable": "CKR_KEY_NOT_WRAPPABLE",
    "KeyTypeInconsistent": "CKR_KEY_TYPE_INCONSISTENT",
    "KeyUnextractable": "CKR_KEY_UNEXTRACTABLE",
    "GeneralError": "CKR_GENERAL_ERROR",
    "HostMemory": "CKR_HOST_MEMORY",
    "MechanismInvalid": "CKR_MECHANISM_INVALID",
    "MechanismParamInvalid": "CKR_MECHANISM_PARAM_INVALID",
    "NoEvent": "CKR_NO_EVENT",
    "ObjectHandleInvalid": "CKR_OBJECT_HANDLE_INVALID",
    "OperationActive": "CKR_OPERATION_ACTIVE",
    "OperationNotInitialized": "CKR_OPERATION_NOT_INITIALIZED",
    "PinExpired": "CKR_PIN_EXPIRED",
    "PinIncorrect": "CKR_PIN_INCORRECT",
    "PinInvalid": "CKR_PIN_INVALID",
    "PinLenRange": "CKR_PIN_LEN_RANGE",
    "PinLocked": "CKR_PIN_LOCKED",
    "PinTooWeak": "CKR_PIN_TOO_WEAK",
    "PublicKeyInvalid": "CKR_PUBLIC_KEY_INVALID",
    "RandomNoRNG": "CKR_RANDOM_NO_RNG",
    "RandomSeedNotSupported": "CKR_RANDOM_SEED_NOT_SUPPORTED",
    "SessionClosed": "CKR_SESSION_CLOSED",
    "SessionCount": "CKR_SESSION_COUNT",
    "SessionExists": "CKR_SESSION_EXISTS",
    "SessionHandleInvalid": "CKR_SESSION_HANDLE_INVALID",
    "SessionReadOnly": "CKR_SESSION_READ_ONLY",
    "SessionReadOnlyExists": "CKR_SESSION_READ_ONLY_EXISTS",
    "SessionReadWriteSOExists": "CKR_SESSION_READ_WRITE_SO_EXISTS",
    "SignatureLenRange": "CKR_SIGNATURE_LEN_RANGE",
    "SignatureInvalid": "CKR_SIGNATURE_INVALID",
    "TemplateIncomplete": "CKR_TEMPLATE_INCOMPLETE",
    "TemplateInconsistent": "CKR_TEMPLATE_INCONSISTENT",
    "SlotIDInvalid": "CKR_SLOT_ID_INVALID",
    "TokenNotPresent": "CKR_TOKEN_NOT_PRESENT",
    "TokenNotRecognised": "CKR_TOKEN_NOT_RECOGNIZED",
    "TokenWriteProtected": "CKR_TOKEN_WRITE_PROTECTED",
    "UnwrappingKeyHandleInvalid": "CKR_UNWRAPPING_KEY_HANDLE_INVALID",
    "UnwrappingKeySizeRange": "CKR_UNWRAPPING_KEY_SIZE_RANGE",
    "UnwrappingKeyTypeInconsistent": "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
    "UserNotLoggedIn": "CKR_USER_NOT_LOGGED_IN",
    "UserAlreadyLoggedIn": "CKR_USER_ALREADY_LOGGED_IN",
    "AnotherUserAlreadyLoggedIn": "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
    "UserPinNotInitialized": "CKR_USER_PIN_NOT_INITIALIZED",
    "UserTooManyTypes": "CKR_USER_TOO_MANY_TYPES",
    "WrappedKeyInvalid": "CKR_WRAPPED_KEY_INVALID",
    "WrappedKeyLenRange": "CKR_WRAPPED_KEY_LEN_RANGE",
    "WrappingKeyHandleInvalid": "CKR_WRAPPING_KEY_HANDLE_INVALID",
    "WrappingKeySizeRange": "CKR_WRAPPING_KEY_SIZE_RANGE",
    "WrappingKeyTypeInconsistent": "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",
}
"""python-pkcs11 exception class name -> the CKR value it stands for."""

MESSAGE_CKR: dict[str, str] = {
    "Buffer was too small. Should never see this.": "CKR_BUFFER_TOO_SMALL",
    "Initialisation error (already initialized). Should never see this.": "CKR_CRYPTOKI_ALREADY_INITIALIZED",
    "Initialisation error (not initialized). Should never see this.": "CKR_CRYPTOKI_NOT_INITIALIZED",
    "Parallel not supported. Should never see this.": "CKR_SESSION_PARALLEL_NOT_SUPPORTED",
    "User type invalid. Should never see this.": "CKR_USER_TYPE_INVALID",
}
"""Fixed text of the bare ``PKCS11Error`` python-pkcs11 raises for some values."""

_UNMAPPED = re.compile(r"Unmapped error code (0x[0-9a-fA-F]+)")


def rv_name(rv: int) -> str:
    """``CKR_PIN_INCORRECT`` for 0xA0; vendor values as ``CKR_VENDOR_DEFINED+0x..``."""
    if rv in CKR_NAMES:
        return CKR_NAMES[rv]
    if rv >= 0x80000000:
        return f"CKR_VENDOR_DEFINED+0x{rv - 0x80000000:X}"
    return f"CKR 0x{rv:X}"


def ckr_name(err: BaseException) -> str:
    """The CKR name a python-pkcs11 exception stands for (its class keeps no code)."""
    name = type(err).__name__
    if name in EXCEPTION_CKR:
        return EXCEPTION_CKR[name]
    text = str(err)
    for message, ckr in MESSAGE_CKR.items():
        if text == message:
            return ckr
    unmapped = _UNMAPPED.search(text)
    if unmapped:
        return rv_name(int(unmapped.group(1), 16))
    if name == "PKCS11Error":
        return " ".join(text.split()) or "CKR_GENERAL_ERROR"
    return name  # python-pkcs11's own lookup errors (NoSuchKey, ...): no CKR value behind them


def exception_for(rv: int) -> Exception:
    """The python-pkcs11 exception python-pkcs11 itself would raise for ``rv``."""
    from pkcs11 import exceptions

    name = CKR_NAMES.get(rv)
    for cls_name, ckr in EXCEPTION_CKR.items():
        if ckr == name:
            error: Exception = getattr(exceptions, cls_name)()
            return error
    for message, ckr in MESSAGE_CKR.items():
        if ckr == name:
            return exceptions.PKCS11Error(message)
    return exceptions.PKCS11Error(f"Unmapped error code {hex(rv)}")


def is_user_type_invalid(err: BaseException) -> bool:
    """``CKR_USER_TYPE_INVALID``: how opencryptoki refuses ``C_Login(CKU_CONTEXT_SPECIFIC)``."""
    return ckr_name(err) == "CKR_USER_TYPE_INVALID"
