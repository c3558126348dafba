"""What a user asked for, independent of how they asked (CLI flags, Python API, config).

:class:`SignerOptions` says where the key and certificate live; :class:`SessionOptions`
says which role to assume and how to reach the service. Both are plain data: parsing
and validation happen in the modules that use them, so the CLI and the Python API share
the same rules and the same errors.

Every field carries a cache decision in its metadata (``KEY``, ``IGNORE`` or ``SECRET``):
``credential-process``'s cache key is built from the fields marked ``KEY``, so an option
that changes the credentials cannot be added without saying whether it belongs in the key
(tests/core/test_cache_key.py fails on a field without a decision).
"""

from __future__ import annotations

from dataclasses import dataclass, field

KEY = {"cache": "key"}
"""Cache decision: the value changes which credentials come back, so it is part of the key."""
IGNORE = {"cache": "ignore"}
"""Cache decision: the value changes how, not which, credentials are obtained (timeouts, prompts)."""
SECRET = {"cache": "secret"}
"""Cache decision: a password or PIN; never part of the key, in clear or hashed."""
CACHE_DECISIONS = frozenset({"key", "ignore", "secret"})


@dataclass
class SignerOptions:
    """Where the identity lives. Field names mirror the long CLI flags."""

    certificate: str | None = field(default=None, metadata=KEY)
    """PEM/DER/PKCS#12 path, or a ``pkcs11:`` URI."""
    private_key: str | None = field(default=None, metadata=KEY)
    """Key path (PEM/DER, TSS2 PEM), ``pkcs11:`` URI, or ``handle:0x81...``."""
    intermediates: str | None = field(default=None, metadata=KEY)
    """PEM bundle of intermediate certificates."""

    # Certificate stores (issue 6)
    cert_selector: str | None = field(default=None, metadata=KEY)
    """Go-compatible selector text or ``file://selector.json``."""
    system_store_name: str | None = field(default=None, metadata=KEY)
    """Windows store name (``MY`` by default) or ``LocalMachine\\My`` style."""
    use_latest_expiring_certificate: bool = field(default=False, metadata=KEY)
    cert_store: str | None = field(default=None, metadata=KEY)
    """Directory of PEM/PKCS#12 identities searched by ``--cert-selector``."""

    # Files
    pkcs8_password: str | None = field(default=None, metadata=SECRET)
    """Password for encrypted PKCS#8, legacy encrypted PEM and PKCS#12."""

    # PKCS#11 (issue 3)
    pkcs11_lib: str | None = field(default=None, metadata=KEY)
    pkcs11_init_args: str | None = field(default=None, metadata=KEY)
    """``pReserved`` string for the module's ``C_Initialize`` (NSS softokn's ``configdir=...``);
    it can select another token database, so it is part of the cache key."""
    reuse_pin: bool = field(default=False, metadata=IGNORE)
    pkcs11_pin_file: str | None = field(default=None, metadata=IGNORE)
    pkcs11_pin_env: str | None = field(default=None, metadata=IGNORE)
    """Name of an environment variable holding the user PIN."""
    pkcs11_context_pin_file: str | None = field(default=None, metadata=IGNORE)
    pkcs11_context_pin_env: str | None = field(default=None, metadata=IGNORE)
    """Name of an environment variable holding the context-specific (signature) PIN."""

    # TPM (issue 4)
    tpm_key_password: str | None = field(default=None, metadata=SECRET)
    no_tpm_key_password: bool = field(default=False, metadata=IGNORE)
    tpm_parent_password: str | None = field(default=None, metadata=SECRET)
    tpm_tcti: str | None = field(default=None, metadata=KEY)
    tpm_pcrs: str | None = field(default=None, metadata=KEY)
    """PCR selection for keys bound to a PCR policy, e.g. ``sha256:0,7``."""

    # Behaviour
    interactive: bool = field(default=True, metadata=IGNORE)
    """May prompt on the controlling terminal (/dev/tty) for PINs and passwords."""
    extra: dict[str, str] = field(default_factory=dict, metadata=KEY)
    """Options for third-party backends (``--backend-option key=value``)."""


@dataclass
class SessionOptions:
    """Which role to assume and how to reach Roles Anywhere."""

    role_arn: str = field(default="", metadata=KEY)
    profile_arn: str = field(default="", metadata=KEY)
    trust_anchor_arn: str = field(default="", metadata=KEY)
    session_duration: int = field(default=3600, metadata=KEY)
    role_session_name: str | None = field(default=None, metadata=KEY)
    instance_properties: dict[str, str] = field(default_factory=dict, metadata=KEY)
    region: str | None = field(default=None, metadata=KEY)
    endpoint: str | None = field(default=None, metadata=KEY)
    use_fips_endpoint: bool = field(default=False, metadata=KEY)
    use_dualstack_endpoint: bool = field(default=False, metadata=KEY)
    ca_bundle: str | None = field(default=None, metadata=KEY)
    no_verify_ssl: bool = field(default=False, metadata=KEY)
    with_proxy: bool = field(default=False, metadata=IGNORE)
    connect_timeout: float = field(default=10.0, metadata=IGNORE)
    read_timeout: float = field(default=30.0, metadata=IGNORE)
    max_attempts: int = field(default=3, metadata=IGNORE)
