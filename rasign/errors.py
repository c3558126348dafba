"""One error hierarchy for rasign.

Every failure a user can cause or meet is a :class:`RasignError`. The CLI prints
:meth:`RasignError.one_line` (the message plus the fix from :meth:`RasignError.hint`) on
stderr and exits with the class's ``exit_code``. ``str(error)`` is that same line, so a
Python API caller who logs or prints the exception sees the fix too. Exit codes are part
of the public contract: scripts branch on them, so a class never changes its code.

Backend-native errors (PKCS#11 ``CKR_*``, ``TSS2_Exception``, OpenSSL) are wrapped with
``raise ... from err`` so ``--debug`` still shows the original as ``__cause__``.

This module imports nothing beyond the standard library: the CLI imports it on the
cache-hit path of ``credential-process``, which must stay cheap.
"""

from __future__ import annotations

from typing import ClassVar


class RasignError(Exception):
    """Base of every error rasign reports to a user."""

    exit_code: ClassVar[int] = 1
    permanent: ClassVar[bool] = False
    """True when retrying cannot cure it without a human (bad input, wrong PIN, access
    denied): long-running commands give up at start instead of retrying."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self._hint = hint

    def hint(self) -> str | None:
        """Return the suggested fix, or None when the message already says it."""
        return self._hint

    def one_line(self) -> str:
        """Render the message and the fix on a single line for stderr."""
        text = " ".join(self.message.split())
        hint = self.hint()
        if hint:
            text = f"{text} ({' '.join(hint.split())})"
        return text

    def __str__(self) -> str:
        """The message with its fix: API users print exceptions, and the fix is the useful part."""
        return self.one_line()


class UsageError(RasignError, ValueError):
    """Bad or conflicting command-line arguments."""

    exit_code = 2
    permanent = True


class ConfigError(RasignError, ValueError):
    """Inputs that parse but cannot work together (ARNs, regions, durations, endpoints)."""

    exit_code = 3
    permanent = True


class KeyLoadError(RasignError, ValueError):
    """A certificate or key could not be read or parsed, or they do not belong together."""

    exit_code = 4
    permanent = True


class CertificateError(RasignError, ValueError):
    """The certificate is unusable for Roles Anywhere (expired, not v3, wrong usage, chain)."""

    exit_code = 5
    permanent = True


class AuthenticationError(RasignError):
    """A PIN or password was wrong, missing, or could not be asked for.

    rasign never retries a wrong PIN or password by itself: each attempt can count against a
    token's or TPM's lockout counter.
    """

    exit_code = 6
    permanent = True


class PromptNeeded(AuthenticationError):
    """A PIN or password is needed and prompting is not allowed here.

    ``what`` says which secret (``PIN``, ``context PIN``, ``TPM key password``, ``PKCS#8
    password``): the agent answers with it, and its client asks the person at its own
    terminal instead.
    """

    def __init__(self, message: str, *, what: str = "PIN", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.what = what


class BackendUnavailable(RasignError, RuntimeError):
    """A key backend cannot run here: a Python extra or a system library is missing."""

    exit_code = 7
    permanent = True


class SigningError(RasignError, RuntimeError):
    """The key backend failed to produce a signature."""

    exit_code = 8


class NetworkError(RasignError, ConnectionError):
    """The Roles Anywhere endpoint could not be reached (DNS, TCP, TLS, timeout)."""

    exit_code = 9


class ServiceError(RasignError):
    """CreateSession answered with an error.

    Attributes keep what the service said so callers can branch on it without parsing text.
    """

    exit_code = 10

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str = "",
        service_message: str = "",
        request_id: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.service_message = service_message
        self.request_id = request_id


class AccessDenied(ServiceError):
    """CreateSession refused the request (HTTP 403 / AccessDeniedException)."""

    exit_code = 11
    permanent = True


class Throttled(ServiceError):
    """CreateSession kept throttling the request after every retry."""

    exit_code = 12


class StoreError(RasignError):
    """A credential store (credentials file, cache, metadata server) could not be used."""

    exit_code = 13


def error_classes() -> list[type[RasignError]]:
    """:class:`RasignError` and every subclass defined so far, base first."""
    found: list[type[RasignError]] = []
    pending: list[type[RasignError]] = [RasignError]
    while pending:
        cls = pending.pop(0)
        if cls not in found:
            found.append(cls)
            pending.extend(cls.__subclasses__())
    return found


EXIT_CODES: dict[str, int] = {cls.__name__: cls.exit_code for cls in error_classes()}
"""Exit code of each error class, as documented in docs/exit-codes.md."""
