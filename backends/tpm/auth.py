"""Where the TPM key and parent passwords come from, decided once before the TPM is used.

Rules (the Go helper's, plus the gaps it leaves):
- A key file says whether its key has a password (``emptyAuth``); that decides when the
  user said nothing. What the user says explicitly wins over the file, with a warning:
  ``tpm2_encodeobject`` of tpm2-tools 5.4 (Debian 12) writes ``emptyAuth`` inverted,
  so ``--tpm-key-password`` for a file marked "no password", or
  ``--no-tpm-key-password`` for one marked "password", is honoured rather than refused
  (the Go helper refuses the first and ignores the second, making such keys unusable).
  The ambient ``RASIGN_TPM_KEY_PASSWORD`` does not override the file.
- Otherwise the password comes from ``--tpm-key-password``, then ``RASIGN_TPM_KEY_PASSWORD``,
  then a prompt on /dev/tty. With no terminal (cron, systemd, the AWS CLI without a tty)
  the prompt fails at once with an error naming the non-interactive options.
- ``--no-tpm-key-password`` means "empty password" (persistent handles record nowhere
  whether they have one).
- The parent password (owner hierarchy or persistent parent) comes from
  ``--tpm-parent-password`` or ``RASIGN_TPM_PARENT_PASSWORD``; default empty. It is never
  prompted for: parents rarely have one, and a prompt for it would confuse more than help.

Passwords are kept as bytes only inside the signer, never logged; a wrong one is used
exactly once (see ``TpmSigner``).
"""

from __future__ import annotations

import logging

from rasign.errors import UsageError
from rasign.options import SignerOptions

log = logging.getLogger("rasign.tpm")

KEY_PASSWORD_ENV = "RASIGN_TPM_KEY_PASSWORD"
PARENT_PASSWORD_ENV = "RASIGN_TPM_PARENT_PASSWORD"
PROMPT = "Please enter your TPM key password: "

_HOW_TO_AVOID = (
    f"pass --tpm-key-password, set {KEY_PASSWORD_ENV}, --no-tpm-key-password if the key has none,"
    " or run where rasign can ask on a terminal"
)


def key_password(options: SignerOptions, *, needs_password: bool, from_file: bool, key: str) -> bytes:
    """The key's auth value (b"" for none), prompting only when nothing else says it."""
    from rasign.secrets import secret_from_env

    explicit = options.tpm_key_password
    if explicit is not None and options.no_tpm_key_password:
        raise UsageError("--tpm-key-password and --no-tpm-key-password cannot be used together")
    if not needs_password:
        if explicit and not from_file:
            log.debug("the persistent key's policy does not use its password; --tpm-key-password is not needed")
            return b""
        if explicit:
            log.warning(
                "the key file %s says the key has no password (emptyAuth), but --tpm-key-password was given:"
                " using it (tpm2_encodeobject of tpm2-tools 5.4 writes that flag inverted)",
                key,
            )
            return explicit.encode("utf-8", "surrogateescape")
        return b""
    if explicit is not None:
        return explicit.encode("utf-8", "surrogateescape")
    if options.no_tpm_key_password:
        if from_file:
            log.warning(
                "the key file %s says the key has a password (emptyAuth false), but --no-tpm-key-password was given:"
                " using an empty one (tpm2_encodeobject of tpm2-tools 5.4 writes that flag inverted)",
                key,
            )
        return b""
    env_value = secret_from_env(KEY_PASSWORD_ENV)
    if env_value is not None:
        return env_value.encode("utf-8", "surrogateescape")
    if not options.interactive:
        from rasign.errors import PromptNeeded

        raise PromptNeeded(
            f"the TPM key {key} needs a password and prompting is disabled",
            what="TPM key password",
            hint=_HOW_TO_AVOID,
        )
    return _prompt().encode("utf-8", "surrogateescape")


def _prompt() -> str:
    from rasign.secrets import prompt_tty

    return prompt_tty(PROMPT, what="TPM key password", how_to_avoid=_HOW_TO_AVOID)


def parent_password(options: SignerOptions) -> bytes:
    """The parent's auth value: flag, then environment, else empty."""
    from rasign.secrets import secret_from_env

    if options.tpm_parent_password is not None:
        return options.tpm_parent_password.encode("utf-8", "surrogateescape")
    return (secret_from_env(PARENT_PASSWORD_ENV) or "").encode("utf-8", "surrogateescape")
