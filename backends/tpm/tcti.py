"""Which TPM to talk to, and opening it with errors a user can act on.

Precedence (first one set wins), so that a flag always beats the environment and the
Go helper's ``TPM_DEVICE`` keeps working for people migrating from it:

1. ``--tpm-tcti`` (``SignerOptions.tpm_tcti``)
2. ``RASIGN_TPM_TCTI``
3. ``TPM_DEVICE`` (the Go helper's variable: a device path or a unix socket path)
4. the TCTI variables other TPM tools read: ``TPM2TOOLS_TCTI``, ``TPM2OPENSSL_TCTI``,
   ``TPM2_PKCS11_TCTI``, ``TCTI``
5. ``/dev/tpmrm0`` (the kernel resource manager), else ``/dev/tpm0``

A TCTI string is ``name[:conf]`` as tpm2-tools spell it (``swtpm:port=2321``,
``device:/dev/tpm0``, ``mssim:host=h,port=p``, ``tabrmd``). A bare path means the device
TCTI; a unix socket path means the swtpm TCTI when its ``.ctrl`` control socket exists,
else ``rawsocket:PATH``, raw TPM commands over a new connection each, like the Go helper. ``swtpm:/path`` (which tss 3.2
does not understand) is rewritten to ``swtpm:path=/path``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rasign.errors import BackendUnavailable, UsageError

if TYPE_CHECKING:
    from tpm2_pytss import ESAPI

DEFAULT_DEVICES = ("/dev/tpmrm0", "/dev/tpm0")
RAW_SOCKET = "rawsocket"
"""rasign's own TCTI name: a unix socket speaking raw TPM commands (see rawsocket.py)."""
TOOL_TCTI_VARIABLES = ("TPM2TOOLS_TCTI", "TPM2OPENSSL_TCTI", "TPM2_PKCS11_TCTI", "TCTI")


@dataclass(frozen=True)
class TctiChoice:
    """A normalised TCTI string and where it came from (for error messages)."""

    spec: str
    source: str

    @property
    def name(self) -> str:
        """TCTI module name (``device``, ``swtpm``, ``mssim``, ``tabrmd`` ...)."""
        return self.spec.split(":", 1)[0]

    @property
    def conf(self) -> str:
        """Module configuration after the first colon ('' when none)."""
        return self.spec.split(":", 1)[1] if ":" in self.spec else ""

    @property
    def resource_managed(self) -> bool:
        """True when something between us and the TPM swaps objects in and out.

        Then keeping a key loaded costs other clients nothing; without a resource
        manager (swtpm, /dev/tpm0) a loaded key occupies one of very few slots.
        """
        if self.name == "tabrmd":
            return True
        return self.name == "device" and "tpmrm" in (self.conf or "/dev/tpmrm0")

    @property
    def exclusive(self) -> bool:
        """True for a raw TPM device, which the kernel lets only one process open."""
        return self.name == "device" and not self.resource_managed

    def describe(self) -> str:
        """``swtpm:port=2321 (from --tpm-tcti)``."""
        return f"{self.spec} (from {self.source})"


def resolve_tcti(option: str | None, environ: Mapping[str, str] | None = None) -> TctiChoice:
    """Pick the TCTI following the module's precedence rules."""
    env = os.environ if environ is None else environ
    if option:
        return TctiChoice(normalise_tcti(option), "--tpm-tcti")
    for name in ("RASIGN_TPM_TCTI", "TPM_DEVICE", *TOOL_TCTI_VARIABLES):
        value = env.get(name, "").strip()
        if value:
            return TctiChoice(normalise_tcti(value), name)
    for path in DEFAULT_DEVICES:
        if os.path.exists(path):
            return TctiChoice(f"device:{path}", "the default device")
    raise BackendUnavailable(
        "no TPM found: neither /dev/tpmrm0 nor /dev/tpm0 exists",
        hint="on a machine with a TPM load its kernel driver; otherwise pass --tpm-tcti "
        "(e.g. swtpm:port=2321) or set TPM_DEVICE",
    )


def normalise_tcti(spec: str) -> str:
    """Turn the accepted spellings into a string tpm2-tss's loader understands."""
    spec = spec.strip()
    if not spec:
        raise UsageError("empty TPM TCTI", hint="use e.g. device:/dev/tpmrm0 or swtpm:port=2321")
    if spec.startswith("/"):
        if not _is_socket(spec):
            return f"device:{spec}"
        # tcti-swtpm needs the control socket next to the data socket; without one, talk
        # raw TPM commands over the socket as the Go helper does (rawsocket.py).
        return f"swtpm:path={spec}" if _is_socket(f"{spec}.ctrl") else f"{RAW_SOCKET}:{spec}"
    name, _, conf = spec.partition(":")
    if name == "swtpm" and conf.startswith("/"):
        return f"swtpm:path={conf}"
    return spec


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def open_esapi(choice: TctiChoice) -> ESAPI:
    """Connect to the TPM; every failure becomes one :class:`BackendUnavailable` line."""
    from tpm2_pytss import ESAPI, TCTILdr, TSS2_Exception

    if choice.name == RAW_SOCKET:
        from .rawsocket import make_raw_socket_tcti

        if not _is_socket(choice.conf):
            raise BackendUnavailable(
                f"no TPM socket at {choice.conf} ({choice.source})", hint="is the TPM simulator running?"
            )
        return ESAPI(make_raw_socket_tcti(choice.conf))
    if not TCTILdr.is_available(choice.name):
        raise BackendUnavailable(
            f"the TPM TCTI library for {choice.name!r} (libtss2-tcti-{choice.name}.so.0) is not installed; "
            f"TCTI {choice.describe()}",
            hint=_install_hint(choice.name),
        )
    if choice.name == "device":
        _check_device(choice)
    try:
        return ESAPI(choice.spec)
    except TSS2_Exception as err:
        raise BackendUnavailable(
            f"cannot connect to the TPM at {choice.describe()}: {err}",
            hint=_connect_hint(choice),
        ) from err
    except RuntimeError as err:
        raise UsageError(f"invalid TPM TCTI {choice.describe()}: {err}") from err


def _check_device(choice: TctiChoice) -> None:
    path = choice.conf or "/dev/tpmrm0"
    if not os.path.exists(path):
        raise BackendUnavailable(
            f"no TPM device at {path} ({choice.source})",
            hint="check that the TPM is enabled and its driver loaded, or pass --tpm-tcti (e.g. swtpm:port=2321)",
        )
    if not os.access(path, os.R_OK | os.W_OK):
        raise BackendUnavailable(
            f"permission denied opening the TPM device {path}",
            hint="add this user to the group that owns the device (usually 'tss')",
        )


def _install_hint(name: str) -> str:
    if name == "tabrmd":
        return "install tpm2-abrmd (Debian: apt install libtss2-tcti-tabrmd0 tpm2-abrmd) or use device:/dev/tpmrm0"
    return (
        f"install the tpm2-tss TCTI module '{name}' (Debian: libtss2-tcti-{name}0 or libtss2-dev), or pick another TCTI"
    )


def _connect_hint(choice: TctiChoice) -> str:
    if choice.name in ("swtpm", "mssim"):
        return "is the TPM simulator running and listening there?"
    if choice.name == "device":
        return "another program may hold /dev/tpm0 exclusively; prefer /dev/tpmrm0"
    return "check the TCTI configuration"
