"""Turn ``TSS2_Exception`` return codes into rasign errors a user can act on.

TPM response codes are dense (``0x98e``) and the TSS's own text ("authorization HMAC
check failed and DA counter incremented") says what happened but not what to do. Each
mapping below names the cause and the fix; the original exception stays attached as
``__cause__`` for ``--debug``.
"""

from __future__ import annotations

from rasign.errors import (
    AuthenticationError,
    BackendUnavailable,
    KeyLoadError,
    RasignError,
    SigningError,
)

# TPM 2.0 Part 2 response codes, with handle/parameter/session numbers stripped.
RC_INITIALIZE = 0x100
RC_AUTH_UNAVAILABLE = 0x12F
RC_ASYMMETRIC = 0x081
RC_ATTRIBUTES = 0x082
RC_HASH = 0x083
RC_VALUE = 0x084
RC_KEY_SIZE = 0x087
RC_AUTH_FAIL = 0x08E
RC_HANDLE = 0x08B
RC_SCHEME = 0x092
RC_SYMMETRIC = 0x096
RC_POLICY_FAIL = 0x099
RC_KEY = 0x09C
RC_INTEGRITY = 0x09F
RC_BAD_AUTH = 0x0A2
RC_CURVE = 0x0A6
RC_OBJECT_MEMORY = 0x902
RC_SESSION_MEMORY = 0x903
RC_REFERENCE_H0 = 0x910
RC_REFERENCE_S0 = 0x918
RC_PCR_CHANGED = 0x928
RC_LOCKOUT = 0x921

TPM_LAYER = 0x000000
TCTI_LAYER = 0x0A0000
ESYS_LAYER = 0x070000

NO_RETRY_NOTE = "rasign tried it once and does not retry: every failure counts towards the TPM's lockout"


def tpm_code(rc: int) -> int:
    """The response code without layer and handle/parameter/session numbers."""
    if rc & 0xFF0000 != TPM_LAYER:
        return rc
    if rc & 0x080:  # format 1: number in bits 8..11, error in bits 0..5
        return 0x080 | (rc & 0x3F)
    return rc & 0xFFF


def layer(rc: int) -> int:
    """The TSS layer that produced ``rc`` (0 for the TPM itself)."""
    return rc & 0xFF0000


def is_connection_lost(rc: int) -> bool:
    """The TCTI lost the TPM (simulator restarted, device gone)."""
    return layer(rc) == TCTI_LAYER


def is_reloadable(rc: int) -> bool:
    """Errors after which loading the key again (on a fresh connection) may succeed.

    They mean the key we held is gone: the TPM was reset or restarted, the connection
    dropped, or its objects were evicted.
    """
    if is_connection_lost(rc):
        return True
    if layer(rc) == ESYS_LAYER:
        return False
    code = tpm_code(rc)
    if code in (RC_HANDLE, RC_INITIALIZE):
        return True
    return RC_REFERENCE_H0 <= code <= RC_REFERENCE_S0 + 7


def is_memory_pressure(rc: int) -> bool:
    """The TPM is out of object or session slots, usually for a moment (another client)."""
    return layer(rc) == TPM_LAYER and tpm_code(rc) in (RC_OBJECT_MEMORY, RC_SESSION_MEMORY)


def is_auth_failure(rc: int) -> bool:
    """A wrong password (DA-protected or not)."""
    return layer(rc) == TPM_LAYER and tpm_code(rc) in (RC_AUTH_FAIL, RC_BAD_AUTH)


def translate(
    err: Exception, *, action: str, secret: str = "TPM key password", key: str = "the TPM key"
) -> RasignError:
    """Map a ``TSS2_Exception`` raised while doing ``action`` to a :class:`RasignError`.

    ``secret`` names the password that was in play (key or parent), ``key`` the object.
    """
    rc = int(getattr(err, "rc", 0))
    if layer(rc) == TPM_LAYER:
        code = tpm_code(rc)
        known = _refused(err, code, action, secret, key) or _unusable(err, code, action, key)
        if known is not None:
            return known
    if is_connection_lost(rc):
        return BackendUnavailable(
            f"lost the connection to the TPM during {action}: {err}", hint="is the TPM (or simulator) still running?"
        )
    return SigningError(f"TPM error during {action}: {err} (rc 0x{rc:x})")


def _refused(err: Exception, code: int, action: str, secret: str, key: str) -> RasignError | None:
    """TPM answers that refuse the caller: a password, the lockout, the wrapping TPM, the policy."""
    if code in (RC_AUTH_FAIL, RC_BAD_AUTH):
        return AuthenticationError(f"incorrect {secret} ({action} was refused)", hint=NO_RETRY_NOTE)
    if code == RC_LOCKOUT:
        return AuthenticationError(
            "the TPM is in dictionary-attack lockout after too many wrong passwords",
            hint="wait for the lockout interval to pass, or clear it with tpm2_dictionarylockout --clear-lockout",
        )
    if action.startswith("importing") and code not in (RC_OBJECT_MEMORY, RC_SESSION_MEMORY):
        return KeyLoadError(
            f"the TPM could not unwrap {key} ({err})",
            hint="an importable key opens only on the TPM (and storage key) it was wrapped for",
        )
    if code == RC_INTEGRITY:
        return KeyLoadError(
            f"the TPM rejected {key} (integrity check failed)",
            hint="the key was created on another TPM or under another parent, or this TPM was cleared since",
        )
    if code in (RC_POLICY_FAIL, RC_PCR_CHANGED) or (code == RC_VALUE and "policy" in action):
        return AuthenticationError(
            f"the policy of {key} is not satisfied ({action})",
            hint="the PCR values differ from those the key is bound to, or the policy steps do not match the key",
        )
    return None


def _unusable(err: Exception, code: int, action: str, key: str) -> RasignError | None:
    """TPM answers about the key itself: how it may be used, its algorithm, its presence, TPM room."""
    if code == RC_AUTH_UNAVAILABLE:
        return AuthenticationError(
            f"{key} can only be used through its policy (userWithAuth is clear)",
            hint="for a persistent key bound to PCRs pass --tpm-pcrs, e.g. --tpm-pcrs sha256:0,7",
        )
    if code in (RC_KEY, RC_ATTRIBUTES):
        return KeyLoadError(
            f"{key} cannot make this signature ({action}): its attributes or scheme do not allow it",
            hint="use a key created with the 'sign' attribute and a NULL or matching signing scheme",
        )
    if code in (RC_CURVE, RC_KEY_SIZE, RC_ASYMMETRIC, RC_SCHEME, RC_HASH, RC_SYMMETRIC):
        return BackendUnavailable(
            f"this TPM does not support the algorithm or size of {key} ({action}: {err})",
            hint="create the key with an algorithm the TPM lists (tpm2_getcap algorithms / ecc-curves)",
        )
    if code == RC_HANDLE:
        return KeyLoadError(
            f"{key} is not present in the TPM ({action})",
            hint="check the handle with tpm2_getcap handles-persistent",
        )
    if code == RC_OBJECT_MEMORY:
        return SigningError(
            "the TPM has no free slot for a transient object (another program holds them)",
            hint="use the kernel resource manager (/dev/tpmrm0) or tpm2-abrmd, or flush stale objects with"
            " tpm2_flushcontext -t",
        )
    return None
