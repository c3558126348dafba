"""What a user asked for, independent of how they asked (CLI flags, Python API, config).

:class:`SignerOptions` says where the key and certificate live; :class:`SessionOptions`
says which role to assume and how to reach the service. Both are plain data: parsing
and validation happen in the modules that use them, so the CLI and the Python API share
the same rules and the same errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SignerOptions:
    """Where the identity lives. Field names mirror the long CLI flags."""

    certificate: str | None = None
    """PEM/DER/PKCS#12 path, or a ``pkcs11:`` URI."""
    private_key: str | None = None
    """Key path (PEM/DER, TSS2 PEM), ``pkcs11:`` URI, or ``handle:0x81...``."""
    intermediates: str | None = None
    """PEM bundle of intermediate certificates."""

    # Certificate stores (issue 6)
    cert_selector: str | None = None
    """Go-compatible selector text or ``file://selector.json``."""
    system_store_name: str | None = None
    """Windows store name (``MY`` by default) or ``LocalMachine\\My`` style."""
    use_latest_expiring_certificate: bool = False
    cert_store: str | None = None
    """Directory of PEM/PKCS#12 identities searched by ``--cert-selector``."""

    # Files
    pkcs8_password: str | None = None
    """Password for encrypted PKCS#8, legacy encrypted PEM and PKCS#12."""

    # PKCS#11 (issue 3)
    pkcs11_lib: str | None = None
    pkcs11_init_args: str | None = None
    """``pReserved`` string for the module's ``C_Initialize`` (NSS softokn's ``configdir=...``)."""
    reuse_pin: bool = False
    pkcs11_pin_file: str | None = None
    pkcs11_pin_env: str | None = None
    """Name of an environment variable holding the user PIN."""
    pkcs11_context_pin_file: str | None = None
    pkcs11_context_pin_env: str | None = None
    """Name of an environment variable holding the context-specific (signature) PIN."""

    # TPM (issue 4)
    tpm_key_password: str | None = None
    no_tpm_key_password: bool = False
    tpm_parent_password: str | None = None
    tpm_tcti: str | None = None
    tpm_pcrs: str | None = None
    """PCR selection for keys bound to a PCR policy, e.g. ``sha256:0,7``."""

    # Behaviour
    interactive: bool = True
    """May prompt on the controlling terminal (/dev/tty) for PINs and passwords."""
    extra: dict[str, str] = field(default_factory=dict)
    """Options for third-party backends (``--backend-option key=value``)."""


@dataclass
class SessionOptions:
    """Which role to assume and how to reach Roles Anywhere."""

    role_arn: str = ""
    profile_arn: str = ""
    trust_anchor_arn: str = ""
    session_duration: int = 3600
    role_session_name: str | None = None
    instance_properties: dict[str, str] = field(default_factory=dict)
    region: str | None = None
    endpoint: str | None = None
    use_fips_endpoint: bool = False
    use_dualstack_endpoint: bool = False
    ca_bundle: str | None = None
    no_verify_ssl: bool = False
    with_proxy: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_attempts: int = 3
