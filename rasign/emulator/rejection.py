"""How the emulator refuses a request.

A :class:`Rejection` is a :class:`rasign.errors.ServiceError` seen from the server side:
the HTTP status and error code the client will receive, the message it will read, and a
``reason`` that stays on the server (request log, stderr). The split mirrors AWS, which
answers "Untrusted Signing Certificate" without saying which check failed; the emulator
keeps that wire behaviour but records the real cause so a failing test explains itself.
"""

from __future__ import annotations

from rasign.errors import ServiceError


class Rejection(ServiceError):
    """A request the emulator answers with an error instead of credentials."""

    def __init__(self, status: int, code: str, message: str, *, reason: str | None = None) -> None:
        super().__init__(f"{code}: {message}", status=status, code=code, service_message=message)
        self.reason = reason or message


def access_denied(message: str, *, reason: str | None = None) -> Rejection:
    """403 AccessDeniedException, the modelled code clients map to "access denied"."""
    return Rejection(403, "AccessDeniedException", message, reason=reason)


def untrusted(reason: str) -> Rejection:
    """403 "Untrusted Signing Certificate", the only text AWS gives for any chain failure."""
    return access_denied("Untrusted Signing Certificate", reason=reason)


def validation(message: str) -> Rejection:
    """400 ValidationException for malformed or out-of-range input."""
    return Rejection(400, "ValidationException", message)


def not_found(message: str) -> Rejection:
    """404 ResourceNotFoundException for unknown trust anchors and profiles."""
    return Rejection(404, "ResourceNotFoundException", message)
