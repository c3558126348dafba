"""Declaring ctypes function signatures, shared by the Windows and macOS store layers.

Both platforms need every function's ``restype``/``argtypes`` set before the first call:
without them ctypes truncates pointers to ``int`` on 64-bit systems.
"""

from __future__ import annotations

from typing import Any

Signature = tuple[Any, tuple[Any, ...]]
"""``(restype, argtypes)`` of one foreign function."""


def bind(library: Any, signatures: dict[str, Signature]) -> Any:
    """Set ``restype``/``argtypes`` of each named function of ``library`` and return it."""
    for name, (restype, argtypes) in signatures.items():
        function = getattr(library, name)
        function.restype = restype
        function.argtypes = list(argtypes)
    return library
