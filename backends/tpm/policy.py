"""TPM policy sessions for keys bound to PCR values and/or their password.

tpm2-pytss's own policy module needs tss2-policy >= 4, which Debian 12 lacks, so the
few policy commands that keys really use are replayed here with plain ESAPI calls:

- TPM2_PolicyPCR (0x17F): parameters are TPM2B_DIGEST pcrDigest || TPML_PCR_SELECTION
- TPM2_PolicyAuthValue (0x16B): the key password proves itself through the session HMAC
- TPM2_PolicyPassword (0x18C): the key password is sent in clear
- TPM2_PolicyCommandCode (0x16C): parameter is the 4-byte command code

Anything else in a key file is refused up front by name, because skipping a step would
only turn into an opaque "policy check failed" from the TPM.

For persistent handles nothing records the policy, so ``--tpm-pcrs`` names the PCR
selection and a trial session tells whether PolicyAuthValue is part of it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from rasign.errors import KeyLoadError, UsageError

from .keyfile import PolicyCommand

if TYPE_CHECKING:
    from tpm2_pytss import ESAPI, ESYS_TR

CC_POLICY_PCR = 0x17F
CC_POLICY_AUTH_VALUE = 0x16B
CC_POLICY_PASSWORD = 0x18C
CC_POLICY_COMMAND_CODE = 0x16C
CC_SIGN = 0x15D

SUPPORTED = {
    CC_POLICY_PCR: "TPM2_PolicyPCR",
    CC_POLICY_AUTH_VALUE: "TPM2_PolicyAuthValue",
    CC_POLICY_PASSWORD: "TPM2_PolicyPassword",
    CC_POLICY_COMMAND_CODE: "TPM2_PolicyCommandCode",
}
KNOWN_UNSUPPORTED = {
    0x160: "TPM2_PolicySigned",
    0x151: "TPM2_PolicySecret",
    0x171: "TPM2_PolicyOR",
    0x16A: "TPM2_PolicyAuthorize",
    0x16F: "TPM2_PolicyLocality",
    0x149: "TPM2_PolicyNV",
    0x18F: "TPM2_PolicyNvWritten",
    0x192: "TPM2_PolicyAuthorizeNV",
    0x16D: "TPM2_PolicyCounterTimer",
}

_PCR_SPEC = re.compile(r"^(sha1|sha256|sha384|sha512|sm3_256):(\d{1,2}(?:,\d{1,2})*)$")


def check_supported(steps: list[PolicyCommand], source: str) -> None:
    """Refuse, by name, any policy step this module cannot replay."""
    for step in steps:
        if step.command_code not in SUPPORTED:
            name = KNOWN_UNSUPPORTED.get(step.command_code, f"command 0x{step.command_code:x}")
            raise KeyLoadError(
                f"TPM key {source} has a policy step {name}, which rasign does not support",
                hint="supported policy steps: " + ", ".join(SUPPORTED.values()),
            )
        if step.command_code == CC_POLICY_COMMAND_CODE and len(step.parameters) != 4:
            raise KeyLoadError(f"TPM key {source}: malformed TPM2_PolicyCommandCode parameters")
        if step.command_code in (CC_POLICY_AUTH_VALUE, CC_POLICY_PASSWORD) and step.parameters:
            raise KeyLoadError(f"TPM key {source}: {SUPPORTED[step.command_code]} takes no parameters")


def uses_password(steps: list[PolicyCommand]) -> bool:
    """True when the policy makes the key password part of the authorisation."""
    return any(step.command_code in (CC_POLICY_AUTH_VALUE, CC_POLICY_PASSWORD) for step in steps)


def parse_pcr_selection(text: str) -> Any:
    """``sha256:0,7`` (several banks joined with ``+``) to a TPML_PCR_SELECTION."""
    from tpm2_pytss import TPML_PCR_SELECTION

    banks = [part.strip().lower() for part in text.split("+") if part.strip()]
    if not banks or not all(_PCR_SPEC.match(bank) for bank in banks):
        raise UsageError(
            f"invalid --tpm-pcrs value {text!r}",
            hint="use BANK:INDEXES, e.g. sha256:0,7 or sha256:0,7+sha1:2",
        )
    for bank in banks:
        if any(int(index) > 23 for index in bank.split(":")[1].split(",")):
            raise UsageError(f"invalid --tpm-pcrs value {text!r}: PCR indexes go from 0 to 23")
    return TPML_PCR_SELECTION.parse("+".join(banks))


def pcr_step(selection: Any, pcr_digest: bytes = b"") -> PolicyCommand:
    """A PolicyPCR step; an empty digest means "the PCR values at signing time"."""
    from tpm2_pytss import TPM2B_DIGEST

    return PolicyCommand(CC_POLICY_PCR, TPM2B_DIGEST(pcr_digest).marshal() + selection.marshal())


def start_policy_session(esys: ESAPI, *, trial: bool = False) -> ESYS_TR:
    """An unbound, unsalted SHA-256 policy session (trial sessions only compute digests)."""
    from tpm2_pytss import ESYS_TR, TPM2_ALG, TPM2_SE, TPMT_SYM_DEF

    return esys.start_auth_session(
        tpm_key=ESYS_TR.NONE,
        bind=ESYS_TR.NONE,
        session_type=TPM2_SE.TRIAL if trial else TPM2_SE.POLICY,
        symmetric=TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL),
        auth_hash=TPM2_ALG.SHA256,
    )


def apply_steps(esys: ESAPI, session: ESYS_TR, steps: list[PolicyCommand]) -> None:
    """Replay ``steps`` in order on ``session``."""
    from tpm2_pytss import TPM2B_DIGEST, TPML_PCR_SELECTION

    for step in steps:
        code = step.command_code
        if code == CC_POLICY_PCR:
            digest, offset = TPM2B_DIGEST.unmarshal(step.parameters)
            selection, end = TPML_PCR_SELECTION.unmarshal(step.parameters[offset:])
            if offset + end != len(step.parameters):
                raise KeyLoadError("malformed TPM2_PolicyPCR parameters in the key's policy")
            esys.policy_pcr(session, digest, selection)
        elif code == CC_POLICY_AUTH_VALUE:
            esys.policy_auth_value(session)
        elif code == CC_POLICY_PASSWORD:
            esys.policy_password(session)
        elif code == CC_POLICY_COMMAND_CODE:
            esys.policy_command_code(session, int.from_bytes(step.parameters, "big"))
        else:  # check_supported() ran at open; this guards direct callers
            raise KeyLoadError(f"unsupported policy command 0x{code:x}")


def policy_digest(esys: ESAPI, steps: list[PolicyCommand]) -> bytes:
    """The digest ``steps`` produce, computed with a trial session (PCRs as they are now)."""
    session = start_policy_session(esys, trial=True)
    try:
        apply_steps(esys, session, steps)
        return bytes(esys.policy_get_digest(session))
    finally:
        esys.flush_context(session)


def steps_for_handle(esys: ESAPI, auth_policy: bytes, selection: Any) -> list[PolicyCommand]:
    """Find the PCR policy of a persistent key: PolicyPCR alone, or followed by AuthValue.

    Comparing trial digests with the key's authPolicy tells which one the key was made
    with, so a mismatch is reported before anything touches the key (no lockout risk).
    """
    base = [pcr_step(selection)]
    candidates = [base, [*base, PolicyCommand(CC_POLICY_AUTH_VALUE)], [PolicyCommand(CC_POLICY_AUTH_VALUE), *base]]
    for steps in candidates:
        if policy_digest(esys, steps) == auth_policy:
            return steps
    raise KeyLoadError(
        "the persistent key's policy is not PolicyPCR over the given --tpm-pcrs (with or without PolicyAuthValue),"
        " or the PCR values have changed since the key was bound to them",
        hint="check --tpm-pcrs against how the key was created (tpm2_createpolicy --policy-pcr -l ...)",
    )
