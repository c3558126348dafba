"""What a user asked for, independent of how they asked (CLI flags, Python API, config).

:class:`SignerOptions` says where the key and certificate live; :class:`SessionOptions`
says which role to assume and how to reach the service. Both are plain data: parsing
and validation happen in the modules that use them, so the CLI and the Python API share
the same rules and the same errors.

Every field is declared with :func:`option`, which records two things in its metadata:

- a cache decision (``KEY``, ``IGNORE`` or ``SECRET``): ``credential-process``'s cache key
  is built from the fields marked ``KEY``, so an option that changes the credentials cannot
  be added without saying whether it belongs in the key (tests/core/test_cache_key.py fails
  on a field without a decision);
- its command-line flag (:class:`Flag`): names and Go-compatible aliases, help, metavar,
  help group, environment default, validator and how the parsed value becomes the field.
  :mod:`rasign.cli.flags` generates the parser and the mapping back from these, so a new
  option is one field here, and the identities file accepts it as a key too.

Cheap to import (dataclasses only): ``credential-process`` imports it on every call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TYPE_CHECKING = False  # typing itself is not imported: this module is on the cold credential-process path
if TYPE_CHECKING:
    from typing import Any

KEY = {"cache": "key"}
"""Cache decision: the value changes which credentials come back, so it is part of the key."""
IGNORE = {"cache": "ignore"}
"""Cache decision: the value changes how, not which, credentials are obtained (timeouts, prompts)."""
SECRET = {"cache": "secret"}
"""Cache decision: a password or PIN; never part of the key, in clear or hashed."""
CACHE_DECISIONS = frozenset({"key", "ignore", "secret"})

MAPPINGS = frozenset({"value", "blank_none", "true", "inverted", "pairs"})
"""How a parsed flag becomes its field: ``value`` as parsed; ``blank_none`` as parsed, an
empty text meaning None; ``true`` a switch (``store_true``); ``inverted`` a switch that
sets the field False (``--no-prompt`` -> ``interactive=False``); ``pairs`` a repeatable
``KEY=VALUE`` flag collected into a dict."""

SIGNER_GROUPS = ("certificate and key", "certificate stores", "PKCS#11", "TPM 2.0")
SESSION_GROUP = "Roles Anywhere"


@dataclass(frozen=True)
class Flag:
    """The command-line side of one option field (read by :mod:`rasign.cli.flags`)."""

    names: tuple[str, ...]
    """Long flag names; the first is canonical (it names the argparse destination), the
    others are aliases (the Go helper's spellings such as ``--fips``)."""
    help: str
    group: str
    """Help group title; groups appear in the order their first field is declared."""
    metavar: str | None = None
    maps: str = "value"
    """One of :data:`MAPPINGS`."""
    check: str | None = None
    """Name of a :mod:`rasign.validate` function applied to the flag's text (``validate.flag``)."""
    env: str | None = None
    """Environment variable that supplies the parser's default (a switch or a whole number)."""
    minimum: int | None = None
    """Smallest accepted value, for a default that bypasses ``check`` (an environment default)."""
    config: str | None = None
    """Kind of the key in the identities file when the type alone does not say it
    (``path``, ``keypath``, ``libpath``, ``template``)."""

    @property
    def dest(self) -> str:
        """The argparse destination: the canonical name without dashes (what identities and checks read)."""
        return self.names[0].lstrip("-").replace("-", "_")


def option(
    default: Any = None,
    *,
    cache: dict[str, str],
    flag: str | tuple[str, ...],
    help: str,  # noqa: A002 - argparse's own name for it
    group: str,
    metavar: str | None = None,
    maps: str = "value",
    check: str | None = None,
    env: str | None = None,
    minimum: int | None = None,
    config: str | None = None,
    default_factory: Any = None,
) -> Any:
    """A dataclass ``field`` carrying its cache decision and its :class:`Flag`.

    Why one call: the field, its flag and its cache decision are declared together, so the
    parser, the mapping from parsed flags and the cache key cannot forget an option.
    """
    if maps not in MAPPINGS:
        raise ValueError(f"unknown flag mapping {maps!r}; expected one of {sorted(MAPPINGS)}")
    names = (flag,) if isinstance(flag, str) else tuple(flag)
    spec = Flag(names, help, group, metavar, maps, check, env, minimum, config)
    metadata = {**cache, "flag": spec}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def flag_of(item: Any) -> Flag | None:
    """The :class:`Flag` of a dataclass field, or None for a field without one."""
    spec = item.metadata.get("flag")
    return spec if isinstance(spec, Flag) else None


_CERT = SIGNER_GROUPS[0]
_STORE = SIGNER_GROUPS[1]
_P11 = SIGNER_GROUPS[2]
_TPM = SIGNER_GROUPS[3]


@dataclass
class SignerOptions:
    """Where the identity lives. Field names mirror the long CLI flags."""

    certificate: str | None = option(
        cache=KEY,
        flag="--certificate",
        metavar="PATH|URI",
        help="certificate: PEM/DER/PKCS#12 file or pkcs11: URI",
        group=_CERT,
        config="keypath",
    )
    """PEM/DER/PKCS#12 path, or a ``pkcs11:`` URI."""
    private_key: str | None = option(
        cache=KEY,
        flag="--private-key",
        metavar="PATH|URI",
        help="key: PEM/DER/TSS2 file, pkcs11: URI or handle:0x81...",
        group=_CERT,
        config="keypath",
    )
    """Key path (PEM/DER, TSS2 PEM), ``pkcs11:`` URI, or ``handle:0x81...``."""
    intermediates: str | None = option(
        cache=KEY,
        flag="--intermediates",
        metavar="PATH",
        help="PEM bundle of intermediate CA certificates",
        group=_CERT,
        config="path",
    )
    """PEM bundle of intermediate certificates."""

    # Certificate stores (issue 6)
    cert_selector: str | None = option(
        cache=KEY,
        flag="--cert-selector",
        metavar="SELECTOR",
        help="Key=x509Subject,Value=... selector or file://selector.json",
        group=_STORE,
    )
    """Go-compatible selector text or ``file://selector.json``."""
    system_store_name: str | None = option(
        cache=KEY,
        flag="--system-store-name",
        metavar="NAME",
        help="Windows store (default MY; LocalMachine\\My accepted)",
        group=_STORE,
    )
    """Windows store name (``MY`` by default) or ``LocalMachine\\My`` style."""
    use_latest_expiring_certificate: bool = option(
        False,
        cache=KEY,
        flag=("--use-latest-expiring-certificate", "--reuse-latest-expiring-certificate"),
        maps="true",
        help="on several matches pick the one expiring last",
        group=_STORE,
    )
    cert_store: str | None = option(
        cache=KEY,
        flag="--cert-store",
        metavar="DIR",
        help="directory of PEM/PKCS#12 identities searched by --cert-selector",
        group=_STORE,
        config="path",
    )
    """Directory of PEM/PKCS#12 identities searched by ``--cert-selector``."""

    # Files
    pkcs8_password: str | None = option(
        cache=SECRET,
        flag="--pkcs8-password",
        metavar="PASSWORD",
        help="password of an encrypted key or PKCS#12 file (env RASIGN_PKCS8_PASSWORD)",
        group=_CERT,
    )
    """Password for encrypted PKCS#8, legacy encrypted PEM and PKCS#12 (the file backend
    reads ``RASIGN_PKCS8_PASSWORD`` itself when this is None)."""

    # PKCS#11 (issue 3)
    pkcs11_lib: str | None = option(
        cache=KEY,
        flag="--pkcs11-lib",
        metavar="PATH",
        help="PKCS#11 module (default: p11-kit-proxy)",
        group=_P11,
        config="libpath",
    )
    pkcs11_init_args: str | None = option(
        cache=KEY,
        flag="--pkcs11-init-args",
        metavar="STRING",
        help="C_Initialize pReserved string for modules that need one, e.g. NSS softokn's \"configdir='sql:DIR' ...\"",
        group=_P11,
    )
    """``pReserved`` string for the module's ``C_Initialize`` (NSS softokn's ``configdir=...``);
    it can select another token database, so it is part of the cache key."""
    reuse_pin: bool = option(
        False,
        cache=IGNORE,
        flag="--reuse-pin",
        maps="true",
        help="use the user PIN as the context-specific PIN",
        group=_P11,
    )
    pkcs11_pin_file: str | None = option(
        cache=IGNORE,
        flag="--pkcs11-pin-file",
        metavar="PATH",
        help="file holding the user PIN",
        group=_P11,
        config="path",
    )
    pkcs11_pin_env: str | None = option(
        cache=IGNORE,
        flag="--pkcs11-pin-env",
        metavar="VAR",
        help="environment variable holding the user PIN (default RASIGN_PKCS11_PIN)",
        group=_P11,
    )
    """Name of an environment variable holding the user PIN."""
    pkcs11_context_pin_file: str | None = option(
        cache=IGNORE,
        flag="--pkcs11-context-pin-file",
        metavar="PATH",
        help="file holding the context-specific (signature) PIN",
        group=_P11,
        config="path",
    )
    pkcs11_context_pin_env: str | None = option(
        cache=IGNORE,
        flag="--pkcs11-context-pin-env",
        metavar="VAR",
        help="environment variable holding the context-specific PIN (default RASIGN_PKCS11_CONTEXT_PIN)",
        group=_P11,
    )
    """Name of an environment variable holding the context-specific (signature) PIN."""

    # TPM (issue 4)
    tpm_key_password: str | None = option(
        cache=SECRET,
        flag="--tpm-key-password",
        metavar="PASSWORD",
        help="TPM key authorisation (env RASIGN_TPM_KEY_PASSWORD)",
        group=_TPM,
    )
    no_tpm_key_password: bool = option(
        False,
        cache=IGNORE,
        flag="--no-tpm-key-password",
        maps="true",
        help="the TPM key has no password",
        group=_TPM,
    )
    tpm_parent_password: str | None = option(
        cache=SECRET,
        flag="--tpm-parent-password",
        metavar="PASSWORD",
        help="authorisation of the key's parent",
        group=_TPM,
    )
    tpm_tcti: str | None = option(
        cache=KEY,
        flag="--tpm-tcti",
        metavar="TCTI",
        help="TCTI, e.g. device:/dev/tpmrm0 or swtpm:port=2321 (default: TPM_DEVICE, TCTI env, /dev/tpmrm0)",
        group=_TPM,
    )
    tpm_pcrs: str | None = option(
        cache=KEY,
        flag="--tpm-pcrs",
        metavar="SEL",
        help="PCR selection for PCR-policy keys, e.g. sha256:0,7",
        group=_TPM,
    )
    """PCR selection for keys bound to a PCR policy, e.g. ``sha256:0,7``."""

    # Behaviour
    backend: str | None = option(
        cache=KEY,
        flag="--backend",
        metavar="NAME",
        help="force a key backend (file, pkcs11, tpm, store or a plug-in)",
        group=_CERT,
    )
    """A forced key backend; None lets :func:`rasign.registry.choose_backend` decide. Part of
    the cache key: two backends may pick different certificates for the same selector."""
    extra: dict[str, str] = option(
        cache=KEY,
        flag="--backend-option",
        metavar="KEY=VALUE",
        maps="pairs",
        help="option for a plug-in backend (repeatable)",
        group=_CERT,
        default_factory=dict,
    )
    """Options for third-party backends (``--backend-option key=value``)."""
    interactive: bool = option(
        True,
        cache=IGNORE,
        flag="--no-prompt",
        maps="inverted",
        env="RASIGN_NO_PROMPT",
        help="never prompt on the terminal; fail instead (env RASIGN_NO_PROMPT=1)",
        group=_CERT,
    )
    """May prompt on the controlling terminal (/dev/tty) for PINs and passwords."""


@dataclass
class SessionOptions:
    """Which role to assume and how to reach Roles Anywhere."""

    role_arn: str = option("", cache=KEY, flag="--role-arn", metavar="ARN", help="role to assume", group=SESSION_GROUP)
    profile_arn: str = option(
        "", cache=KEY, flag="--profile-arn", metavar="ARN", help="Roles Anywhere profile", group=SESSION_GROUP
    )
    trust_anchor_arn: str = option(
        "", cache=KEY, flag="--trust-anchor-arn", metavar="ARN", help="Roles Anywhere trust anchor", group=SESSION_GROUP
    )
    session_duration: int = option(
        3600,
        cache=KEY,
        flag="--session-duration",
        check="session_duration",
        metavar="SECONDS",
        help="900-43200 (default 3600)",
        group=SESSION_GROUP,
    )
    role_session_name: str | None = option(
        cache=KEY,
        flag="--role-session-name",
        maps="blank_none",
        metavar="NAME",
        help="session name (profile must accept it)",
        group=SESSION_GROUP,
        config="template",
    )
    instance_properties: dict[str, str] = option(
        cache=KEY,
        flag="--instance-property",
        maps="pairs",
        metavar="KEY=VALUE",
        help="instance property sent with the session (repeatable)",
        group=SESSION_GROUP,
        default_factory=dict,
    )
    region: str | None = option(
        cache=KEY,
        flag="--region",
        maps="blank_none",
        check="region",
        metavar="REGION",
        help="signing region (default: the trust anchor's)",
        group=SESSION_GROUP,
    )
    endpoint: str | None = option(
        cache=KEY,
        flag="--endpoint",
        maps="blank_none",
        check="endpoint_url",
        metavar="URL",
        help="CreateSession endpoint override",
        group=SESSION_GROUP,
    )
    use_fips_endpoint: bool = option(
        False,
        cache=KEY,
        flag=("--use-fips-endpoint", "--fips"),
        maps="true",
        help="use the FIPS endpoint",
        group=SESSION_GROUP,
    )
    use_dualstack_endpoint: bool = option(
        False,
        cache=KEY,
        flag=("--use-dualstack-endpoint", "--dualstack"),
        maps="true",
        help="use the IPv4/IPv6 endpoint",
        group=SESSION_GROUP,
    )
    ca_bundle: str | None = option(
        cache=KEY,
        flag="--ca-bundle",
        metavar="PATH",
        help="CA bundle for TLS verification (default AWS_CA_BUNDLE, then the system's)",
        group=SESSION_GROUP,
        config="path",
    )
    no_verify_ssl: bool = option(
        False,
        cache=KEY,
        flag="--no-verify-ssl",
        maps="true",
        help="disable TLS verification (do not use in production)",
        group=SESSION_GROUP,
    )
    with_proxy: bool = option(
        False,
        cache=IGNORE,
        flag="--with-proxy",
        maps="true",
        help="accepted for compatibility: HTTPS_PROXY/NO_PROXY are always honoured",
        group=SESSION_GROUP,
    )
    connect_timeout: float = option(
        10.0,
        cache=IGNORE,
        flag="--connect-timeout",
        check="timeout",
        metavar="SECONDS",
        help="TCP/TLS connect timeout",
        group=SESSION_GROUP,
    )
    read_timeout: float = option(
        30.0,
        cache=IGNORE,
        flag="--read-timeout",
        check="timeout",
        metavar="SECONDS",
        help="response timeout",
        group=SESSION_GROUP,
    )
    max_attempts: int = option(
        3,
        cache=IGNORE,
        flag="--max-attempts",
        check="max_attempts",
        env="AWS_MAX_ATTEMPTS",
        minimum=1,
        metavar="N",
        help="attempts on throttling/5xx/network errors (default 3)",
        group=SESSION_GROUP,
    )
