"""Tell the person when a key is waiting for them (a touch, a PIN pad).

A YubiKey with a touch policy blinks and waits; under the AWS CLI, which swallows
stderr, the user never learns why the command hangs. :class:`NoticeSigner` wraps any
signer: when one signature takes longer than a threshold it calls ``notify`` once with a
line saying so. The agent forwards that line to its client, which writes it to the
user's terminal (``/dev/tty``) or, with no terminal, tries a desktop notification
(:func:`rasign.agent.client.show_on_terminal`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from rasign.signer import DelegatingSigner, Signer

DEFAULT_THRESHOLD = 1.0
"""Seconds a signature may take before the person is told the key waits for them."""

THRESHOLD_ENV = "RASIGN_TOUCH_NOTICE_AFTER"


def threshold_from_env(environ: dict[str, str] | None = None) -> float:
    """``$RASIGN_TOUCH_NOTICE_AFTER`` seconds (finite, >= 0), else :data:`DEFAULT_THRESHOLD`."""
    raw = (os.environ if environ is None else environ).get(THRESHOLD_ENV, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_THRESHOLD
    return value if 0 <= value < 1e6 else DEFAULT_THRESHOLD


class NoticeSigner(DelegatingSigner):
    """A signer that reports slow signatures (the key waits for a touch) through ``notify``."""

    def __init__(self, inner: Signer, notify: Callable[[str], None], threshold: float = DEFAULT_THRESHOLD) -> None:
        super().__init__(inner)
        self._notify = notify
        self._threshold = threshold

    def sign(self, message: bytes, digest: str = "SHA256") -> bytes:
        timer = threading.Timer(self._threshold, self._notify, args=(touch_message(self._inner),))
        timer.daemon = True
        timer.start()
        try:
            return self._inner.sign(message, digest)
        finally:
            timer.cancel()

    def check_matches_certificate(self) -> None:
        self._inner.check_matches_certificate()


def touch_message(signer: Signer) -> str:
    """The one line shown while a key waits: which key, and what to do."""
    return f"rasign: waiting for the key ({signer.describe()}): touch it if it blinks, or enter the PIN on its PIN pad"
