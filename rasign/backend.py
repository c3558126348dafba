"""The written contract between rasign's core and its key backends.

A key backend turns :class:`~rasign.options.SignerOptions` into a
:class:`~rasign.signer.Signer`. The core never imports a backend by name; it asks the
registry (:mod:`rasign.registry`), which loads only the backend that is used. Every
built-in backend (``file``, ``pkcs11``, ``tpm``, ``store``) and every plug-in registered
under the ``rasign.backends`` entry-point group implements :class:`Backend`.

What a backend declares, and who relies on it:

``name``
    How ``--backend NAME`` and messages call it.
``extra``
    The pip extra that brings its Python dependencies (``pip install 'rasign[EXTRA]'``);
    :func:`require_module` builds the install hint from it.
``reopen_each_refresh``
    Long-running modes (``serve``, ``update``, the API) open a new signer for every
    refresh when True, so rotated files are picked up; hardware backends keep one open
    signer (one PIN entry, one token session) and say False.
:meth:`Backend.open`
    A ready signer whose key is proven to match its certificate, or a
    :class:`~rasign.errors.RasignError` naming the problem and the fix.
:meth:`Backend.list_identities`
    What ``read-certificate-data`` lists; other backends call it too (the TPM backend
    reads a certificate kept on a PKCS#11 token through it).
:meth:`Backend.claims`
    Whether the inputs are this backend's (a ``pkcs11:`` URI, a TSS2 key file, a
    ``scheme:`` of a plug-in); the registry asks in its fixed precedence order.
:meth:`Backend.needs_human`
    Whether minting with these inputs may need a person (PIN, password, touch): the
    ``credential-process`` cache is on by default exactly then.
:meth:`Backend.diagnose`
    What ``rasign doctor`` reports about these inputs without logging in or spending a PIN
    attempt (a module loads, a token is present, a PIN source is readable), found the way
    :meth:`Backend.open` would find them, so the report cannot disagree with the real run.

Backends may import this module and the other parts of the allowed interface
(:data:`BACKEND_INTERFACE`); ``tests/core/test_import_rules.py`` enforces it.
"""

from __future__ import annotations

import abc
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rasign.errors import BackendUnavailable, UsageError

if TYPE_CHECKING:
    from rasign.options import SignerOptions
    from rasign.signer import Identity, Signer

BACKEND_INTERFACE = (
    "rasign.backend",
    "rasign.certs",
    "rasign.der",
    "rasign.errors",
    "rasign.localfile",
    "rasign.options",
    "rasign.secrets",
    "rasign.signer",
    "rasign.textsafe",
    "rasign.x509names",
)
"""Core modules a backend may import; anything else in ``rasign`` is private to the core."""


@dataclass(frozen=True)
class Finding:
    """One line of ``rasign doctor``'s report, from a backend's :meth:`Backend.diagnose`."""

    name: str
    status: str
    """``"pass"``, ``"warn"`` or ``"fail"``."""
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


class Backend(abc.ABC):
    """Base class of every key backend; implement :meth:`open`, override what applies.

    Backends are used as classes (every method is a classmethod) because they hold no
    state of their own: the state lives in the signers they open.
    """

    name: ClassVar[str] = ""
    extra: ClassVar[str | None] = None
    reopen_each_refresh: ClassVar[bool] = False

    @classmethod
    @abc.abstractmethod
    def open(cls, options: SignerOptions) -> Signer:
        """Build a ready signer for ``options``, failing early on any problem."""

    @classmethod
    def list_identities(cls, options: SignerOptions) -> list[Identity]:
        """The certificates these inputs can sign with; default: the one :meth:`open` finds."""
        from rasign.signer import Identity

        signer = cls.open(options)
        try:
            certificate = signer.certificate
            where = signer.describe()
            return [Identity(certificate=certificate, where=where)] if certificate is not None else []
        finally:
            signer.close()

    @classmethod
    def claims(cls, options: SignerOptions) -> bool:
        """True when ``options`` name a key this backend owns (used for plug-ins and the TPM)."""
        return False

    @classmethod
    def needs_human(cls, options: SignerOptions) -> bool:
        """True when minting with ``options`` may need a PIN, a password or a touch."""
        return False

    @classmethod
    def diagnose(cls, options: SignerOptions) -> list[Finding]:
        """Checks that touch no secret and no lockout counter; default: none (doctor's own apply)."""
        return []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not isinstance(cls.__dict__.get("name", cls.name), str):
            raise TypeError(f"{cls.__qualname__}.name must be a string")


def require_module(module: str, backend: str, *, extra: str | None = None, system_hint: str | None = None) -> Any:
    """Import a backend's optional dependency, or explain how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        hint = f"install it with: pip install 'rasign[{extra or backend}]'"
        if system_hint:
            hint += f"; {system_hint}"
        raise BackendUnavailable(
            f"the {backend} backend needs the Python module {module!r}, which is not installed ({err})",
            hint=hint,
        ) from err


def backend_named(name: str) -> type[Backend]:
    """Another backend, by name, for backends that build on each other (store -> file).

    Goes through the registry so plug-ins are found too; a backend never imports another
    backend's modules directly.
    """
    from rasign.registry import load_backend

    backend = load_backend(name)
    if not (isinstance(backend, type) and issubclass(backend, Backend)):
        raise UsageError(f"key backend {name!r} does not implement the rasign backend contract")
    return backend
