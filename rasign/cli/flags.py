"""Command-line flags shared by the commands, named exactly like the Go helper's.

Every flag of ``aws_signing_helper`` 1.8 (reference-helper.md section 1) is accepted with
the same meaning; rasign's additions use new names and never change an old one. The Go
helper's mutually exclusive flag groups are enforced with its own error text, so scripts
that parse errors keep working.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from rasign import validate
from rasign.errors import UsageError
from rasign.options import SessionOptions, SignerOptions

# Go's groups for credential-process, serve and update (reference-helper.md 1.2).
CREDENTIAL_EXCLUSIONS: tuple[tuple[str, str], ...] = (
    ("certificate", "cert-selector"),
    ("certificate", "system-store-name"),
    ("private-key", "cert-selector"),
    ("private-key", "system-store-name"),
    ("private-key", "use-latest-expiring-certificate"),
    ("use-latest-expiring-certificate", "intermediates"),
    ("use-latest-expiring-certificate", "reuse-pin"),
    ("cert-selector", "intermediates"),
    ("cert-selector", "reuse-pin"),
    ("system-store-name", "reuse-pin"),
    ("tpm-key-password", "cert-selector"),
    ("tpm-key-password", "reuse-pin"),
    ("no-tpm-key-password", "cert-selector"),
    ("no-tpm-key-password", "tpm-key-password"),
    ("pkcs8-password", "tpm-key-password"),
)

# Go's groups for sign-string (reference-helper.md 1.6).
SIGN_STRING_EXCLUSIONS: tuple[tuple[str, str], ...] = (
    ("certificate", "cert-selector"),
    ("certificate", "system-store-name"),
    ("private-key", "cert-selector"),
    ("private-key", "system-store-name"),
    ("private-key", "use-latest-expiring-certificate"),
    ("use-latest-expiring-certificate", "reuse-pin"),
    ("cert-selector", "reuse-pin"),
    ("system-store-name", "reuse-pin"),
    ("tpm-key-password", "cert-selector"),
    ("tpm-key-password", "reuse-pin"),
    ("no-tpm-key-password", "cert-selector"),
    ("no-tpm-key-password", "reuse-pin"),
    ("no-tpm-key-password", "tpm-key-password"),
    ("pkcs8-password", "tpm-key-password"),
)

READ_CERTIFICATE_EXCLUSIONS: tuple[tuple[str, str], ...] = (
    ("certificate", "cert-selector"),
    ("certificate", "system-store-name"),
)


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """``--debug``: verbose logs on stderr (never secrets) and tracebacks on errors."""
    parser.add_argument("--debug", action="store_true", help="verbose logging on stderr; show tracebacks")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="log line format on stderr")


def add_signer_flags(parser: argparse.ArgumentParser, *, intermediates: bool = True) -> None:
    """Flags that say where the certificate and key live (all backends)."""
    group = parser.add_argument_group("certificate and key")
    group.add_argument("--certificate", metavar="PATH|URI", help="certificate: PEM/DER/PKCS#12 file or pkcs11: URI")
    group.add_argument(
        "--private-key", metavar="PATH|URI", help="key: PEM/DER/TSS2 file, pkcs11: URI or handle:0x81..."
    )
    if intermediates:
        group.add_argument("--intermediates", metavar="PATH", help="PEM bundle of intermediate CA certificates")
    group.add_argument(
        "--pkcs8-password",
        metavar="PASSWORD",
        help="password of an encrypted key or PKCS#12 file (env RASIGN_PKCS8_PASSWORD)",
    )
    group.add_argument("--backend", metavar="NAME", help="force a key backend (file, pkcs11, tpm, store or a plug-in)")
    group.add_argument(
        "--backend-option",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="option for a plug-in backend (repeatable)",
    )
    group.add_argument(
        "--no-prompt",
        action="store_true",
        default=_env_flag("RASIGN_NO_PROMPT"),
        help="never prompt on the terminal; fail instead (env RASIGN_NO_PROMPT=1)",
    )

    store = parser.add_argument_group("certificate stores")
    store.add_argument(
        "--cert-selector", metavar="SELECTOR", help="Key=x509Subject,Value=... selector or file://selector.json"
    )
    store.add_argument(
        "--system-store-name", metavar="NAME", help="Windows store (default MY; LocalMachine\\My accepted)"
    )
    store.add_argument(
        "--use-latest-expiring-certificate",
        "--reuse-latest-expiring-certificate",
        dest="use_latest_expiring_certificate",
        action="store_true",
        help="on several matches pick the one expiring last",
    )
    store.add_argument(
        "--cert-store", metavar="DIR", help="directory of PEM/PKCS#12 identities searched by --cert-selector"
    )

    p11 = parser.add_argument_group("PKCS#11")
    p11.add_argument("--pkcs11-lib", metavar="PATH", help="PKCS#11 module (default: p11-kit-proxy)")
    p11.add_argument(
        "--pkcs11-init-args",
        metavar="STRING",
        help="C_Initialize pReserved string for modules that need one, e.g. NSS softokn's \"configdir='sql:DIR' ...\"",
    )
    p11.add_argument("--reuse-pin", action="store_true", help="use the user PIN as the context-specific PIN")
    p11.add_argument("--pkcs11-pin-file", metavar="PATH", help="file holding the user PIN")
    p11.add_argument(
        "--pkcs11-pin-env", metavar="VAR", help="environment variable holding the user PIN (default RASIGN_PKCS11_PIN)"
    )
    p11.add_argument(
        "--pkcs11-context-pin-file", metavar="PATH", help="file holding the context-specific (signature) PIN"
    )
    p11.add_argument(
        "--pkcs11-context-pin-env",
        metavar="VAR",
        help="environment variable holding the context-specific PIN (default RASIGN_PKCS11_CONTEXT_PIN)",
    )

    tpm = parser.add_argument_group("TPM 2.0")
    tpm.add_argument(
        "--tpm-key-password", metavar="PASSWORD", help="TPM key authorisation (env RASIGN_TPM_KEY_PASSWORD)"
    )
    tpm.add_argument("--no-tpm-key-password", action="store_true", help="the TPM key has no password")
    tpm.add_argument("--tpm-parent-password", metavar="PASSWORD", help="authorisation of the key's parent")
    tpm.add_argument(
        "--tpm-tcti",
        metavar="TCTI",
        help="TCTI, e.g. device:/dev/tpmrm0 or swtpm:port=2321 (default: TPM_DEVICE, TCTI env, /dev/tpmrm0)",
    )
    tpm.add_argument("--tpm-pcrs", metavar="SEL", help="PCR selection for PCR-policy keys, e.g. sha256:0,7")


def add_session_flags(parser: argparse.ArgumentParser) -> None:
    """Flags that say which role to assume and how to reach Roles Anywhere."""
    group = parser.add_argument_group("Roles Anywhere")
    group.add_argument("--role-arn", default="", metavar="ARN", help="role to assume")
    group.add_argument("--profile-arn", default="", metavar="ARN", help="Roles Anywhere profile")
    group.add_argument("--trust-anchor-arn", default="", metavar="ARN", help="Roles Anywhere trust anchor")
    group.add_argument(
        "--session-duration",
        type=validate.flag(validate.session_duration, "--session-duration"),
        default=3600,
        metavar="SECONDS",
        help="900-43200 (default 3600)",
    )
    group.add_argument("--role-session-name", metavar="NAME", help="session name (profile must accept it)")
    group.add_argument(
        "--instance-property",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="instance property sent with the session (repeatable)",
    )
    group.add_argument(
        "--region",
        type=validate.flag(validate.region, "--region"),
        metavar="REGION",
        help="signing region (default: the trust anchor's)",
    )
    group.add_argument(
        "--endpoint",
        type=validate.flag(validate.endpoint_url, "--endpoint"),
        metavar="URL",
        help="CreateSession endpoint override",
    )
    group.add_argument(
        "--use-fips-endpoint", "--fips", dest="use_fips_endpoint", action="store_true", help="use the FIPS endpoint"
    )
    group.add_argument(
        "--use-dualstack-endpoint",
        "--dualstack",
        dest="use_dualstack_endpoint",
        action="store_true",
        help="use the IPv4/IPv6 endpoint",
    )
    group.add_argument(
        "--ca-bundle", metavar="PATH", help="CA bundle for TLS verification (default AWS_CA_BUNDLE, then the system's)"
    )
    group.add_argument(
        "--no-verify-ssl", action="store_true", help="disable TLS verification (do not use in production)"
    )
    group.add_argument(
        "--with-proxy", action="store_true", help="accepted for compatibility: HTTPS_PROXY/NO_PROXY are always honoured"
    )
    group.add_argument(
        "--connect-timeout",
        type=validate.flag(validate.timeout, "--connect-timeout"),
        default=10.0,
        metavar="SECONDS",
        help="TCP/TLS connect timeout",
    )
    group.add_argument(
        "--read-timeout",
        type=validate.flag(validate.timeout, "--read-timeout"),
        default=30.0,
        metavar="SECONDS",
        help="response timeout",
    )
    group.add_argument(
        "--max-attempts",
        type=validate.flag(validate.max_attempts, "--max-attempts"),
        default=_env_int("AWS_MAX_ATTEMPTS", 3),
        metavar="N",
        help="attempts on throttling/5xx/network errors (default 3)",
    )


def add_refresh_flags(parser: argparse.ArgumentParser) -> None:
    """The "refresh" group shared by the long-running commands (``serve``, ``update``)."""
    refresh = parser.add_argument_group("refresh")
    refresh.add_argument(
        "--refresh-ahead",
        type=validate.flag(validate.interval, "--refresh-ahead"),
        metavar="SECONDS",
        help="refresh this long before expiry (default: 15 min, at most half the lifetime)",
    )
    refresh.add_argument(
        "--min-refresh-interval",
        type=validate.flag(validate.interval, "--min-refresh-interval"),
        default=10.0,
        metavar="SECONDS",
        help="never call CreateSession more often than this (default 10)",
    )
    refresh.add_argument(
        "--max-backoff",
        type=validate.flag(validate.interval, "--max-backoff"),
        default=120.0,
        metavar="SECONDS",
        help="longest wait between retries after failures (default 120)",
    )


def _int(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, ""))
    except ValueError:
        return default


def _pairs(values: Sequence[str], flag: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} expects KEY=VALUE, got {item!r}")
        result[key] = value
    return result


def check_exclusions(args: argparse.Namespace, groups: Sequence[tuple[str, str]]) -> None:
    """Refuse flag combinations the Go helper refuses, with its wording."""
    for first, second in sorted(groups, key=lambda pair: " ".join(pair)):
        values = [getattr(args, name.replace("-", "_"), None) for name in (first, second)]
        if all(value not in (None, False, "") for value in values):
            both = " ".join(sorted((first, second)))
            raise UsageError(
                f"if any flags in the group [{first} {second}] are set none of the others can be; [{both}] were all set"
            )


def signer_options(args: argparse.Namespace) -> SignerOptions:
    """Map parsed flags to :class:`SignerOptions`."""
    get = lambda name: getattr(args, name, None)  # noqa: E731 - tiny accessor
    return SignerOptions(
        certificate=get("certificate"),
        private_key=get("private_key"),
        intermediates=get("intermediates"),
        cert_selector=get("cert_selector"),
        system_store_name=get("system_store_name"),
        use_latest_expiring_certificate=bool(get("use_latest_expiring_certificate")),
        cert_store=get("cert_store"),
        pkcs8_password=get("pkcs8_password"),  # the file backend reads RASIGN_PKCS8_PASSWORD itself
        pkcs11_lib=get("pkcs11_lib"),
        pkcs11_init_args=get("pkcs11_init_args"),
        reuse_pin=bool(get("reuse_pin")),
        pkcs11_pin_file=get("pkcs11_pin_file"),
        pkcs11_pin_env=get("pkcs11_pin_env"),
        pkcs11_context_pin_file=get("pkcs11_context_pin_file"),
        pkcs11_context_pin_env=get("pkcs11_context_pin_env"),
        tpm_key_password=get("tpm_key_password"),
        no_tpm_key_password=bool(get("no_tpm_key_password")),
        tpm_parent_password=get("tpm_parent_password"),
        tpm_tcti=get("tpm_tcti"),
        tpm_pcrs=get("tpm_pcrs"),
        interactive=not bool(get("no_prompt")),
        extra=_pairs(get("backend_option") or [], "--backend-option"),
    )


def session_options(args: argparse.Namespace) -> SessionOptions:
    """Map parsed flags to :class:`SessionOptions`."""
    if args.max_attempts < 1:
        raise UsageError("--max-attempts must be at least 1")
    return SessionOptions(
        role_arn=args.role_arn,
        profile_arn=args.profile_arn,
        trust_anchor_arn=args.trust_anchor_arn,
        session_duration=args.session_duration,
        role_session_name=args.role_session_name or None,
        instance_properties=_pairs(args.instance_property, "--instance-property"),
        region=args.region or None,
        endpoint=args.endpoint or None,
        use_fips_endpoint=args.use_fips_endpoint,
        use_dualstack_endpoint=args.use_dualstack_endpoint,
        ca_bundle=args.ca_bundle,
        no_verify_ssl=args.no_verify_ssl,
        with_proxy=args.with_proxy,
        connect_timeout=args.connect_timeout,
        read_timeout=args.read_timeout,
        max_attempts=args.max_attempts,
    )
