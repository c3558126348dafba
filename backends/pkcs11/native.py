"""``C_Initialize`` with initialisation arguments, which python-pkcs11 0.10 cannot send.

python-pkcs11 always calls ``C_Initialize(NULL)``. NSS softokn needs its database and
options in ``CK_C_INITIALIZE_ARGS.pReserved`` (``configdir='sql:/path' certPrefix=''
keyPrefix='' secmod='secmod.db' flags=``) and answers NULL with ``CKR_ARGUMENTS_BAD``;
p11-kit passes the same string from a module file's ``x-init-reserved:`` line.

:func:`load_with_init_args` subclasses python-pkcs11's ``lib`` and overrides its
``initialize`` (a Cython ``cpdef`` method, so the override is what its constructor calls)
to send the arguments through the module's own ``CK_FUNCTION_LIST``. ``dlopen`` of the path
python-pkcs11 opens returns the same instance, so the module python-pkcs11 then talks to is
the one initialised here.
"""

from __future__ import annotations

import ctypes
from typing import Any

CKR_OK = 0
CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191
CKF_OS_LOCKING_OK = 0x2
"""python-pkcs11 calls the module from several threads (it releases the GIL): ask for locking."""


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte)]


class _FunctionListHead(ctypes.Structure):
    """The first members of ``CK_FUNCTION_LIST`` (the order PKCS#11 fixes); only these are used."""

    _fields_ = [("version", _Version), ("C_Initialize", ctypes.c_void_p)]


class _InitArgs(ctypes.Structure):
    _fields_ = [
        ("CreateMutex", ctypes.c_void_p),
        ("DestroyMutex", ctypes.c_void_p),
        ("LockMutex", ctypes.c_void_p),
        ("UnlockMutex", ctypes.c_void_p),
        ("flags", ctypes.c_ulong),
        ("pReserved", ctypes.c_void_p),
    ]


_KEEP: list[Any] = []
"""Loaded libraries and argument strings: a module may keep the pReserved pointer."""


def initialize(path: str, reserved: str) -> int:
    """``C_Initialize`` of the module at ``path`` with ``pReserved`` = ``reserved``; the CK_RV."""
    library = ctypes.CDLL(path)
    get_list = library.C_GetFunctionList
    get_list.argtypes = [ctypes.POINTER(ctypes.POINTER(_FunctionListHead))]
    get_list.restype = ctypes.c_ulong
    functions = ctypes.POINTER(_FunctionListHead)()
    rv = int(get_list(ctypes.byref(functions)))
    if rv != CKR_OK:
        return rv
    text = ctypes.create_string_buffer(reserved.encode("utf-8"))
    args = _InitArgs(None, None, None, None, CKF_OS_LOCKING_OK, ctypes.cast(text, ctypes.c_void_p))
    _KEEP.extend((library, text))
    c_initialize = ctypes.CFUNCTYPE(ctypes.c_ulong, ctypes.POINTER(_InitArgs))(functions.contents.C_Initialize)
    return int(c_initialize(ctypes.byref(args)))


def load_with_init_args(path: str, reserved: str) -> Any:
    """A python-pkcs11 ``lib`` whose ``C_Initialize`` carried ``reserved`` as ``pReserved``.

    Raises python-pkcs11's exception for a refusal, as python-pkcs11's own loader would.
    """
    from pkcs11 import _pkcs11

    from rasign.backends.pkcs11.ckr import exception_for

    class InitArgsLib(_pkcs11.lib):
        """python-pkcs11's ``lib`` with the initialisation python-pkcs11 cannot do."""

        def initialize(self) -> None:
            rv = initialize(path, reserved)
            if rv not in (CKR_OK, CKR_CRYPTOKI_ALREADY_INITIALIZED):
                raise exception_for(rv)

    return InitArgsLib(path)
