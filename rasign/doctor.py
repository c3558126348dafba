"""Preflight checks behind ``rasign doctor``: find what will make CreateSession fail, before it does.

Each check returns :class:`Check` results (pass, fail, warn) with the fix for a failure.
Nothing here spends a PIN attempt: PKCS#11 checks load the module and look for the token
without logging in, PIN sources are only checked for being readable, and a key in a file is
compared with the certificate's public key locally. ``--live`` adds one real CreateSession,
whose error (if any) is the error catalogue's own line with its fix.

The checks take the current time as a parameter so tests drive them with a fixed clock.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rasign.backend import Finding
from rasign.errors import RasignError

if TYPE_CHECKING:
    from cryptography import x509

    from rasign.options import SessionOptions, SignerOptions
    from rasign.session import PlannedSession

PASS, FAIL, WARN = "pass", "fail", "warn"
MAX_CHAIN_DEPTH = 5
"""Roles Anywhere accepts a leaf plus at most this many certificates in total on the path."""
EXPIRY_WARNING_DAYS = 30
CLOCK_SKEW_LIMIT = 300.0


Check = Finding
"""One line of the report: the same record a backend's ``diagnose`` returns."""


def _safe(check: Callable[[], Iterator[Check]], name: str) -> list[Check]:
    """Run one check group; a RasignError becomes a failed line instead of ending the report."""
    results: list[Check] = []
    try:
        results.extend(check())
    except RasignError as err:
        results.append(Check(name, FAIL, err.message, err.hint() or ""))
    return results


# --------------------------------------------------------------------------- certificate


def check_certificate(cert: x509.Certificate, now: _dt.datetime) -> Iterator[Check]:
    """v3, KeyUsage digitalSignature, not a CA, inside its validity window, days left."""
    from cryptography import x509 as _x509

    from rasign.certs import not_valid_after, not_valid_before

    subject = cert.subject.rfc4514_string() or "<empty subject>"
    if cert.version != _x509.Version.v3:
        yield Check("certificate", FAIL, f"{subject} is X.509 {cert.version.name}", "reissue it as X.509 v3")
        return
    try:
        if cert.extensions.get_extension_for_class(_x509.BasicConstraints).value.ca:
            yield Check(
                "certificate",
                FAIL,
                f"{subject} is a CA certificate (CA:TRUE)",
                "use the end-entity certificate issued for this key, not the CA",
            )
            return
    except _x509.ExtensionNotFound:
        pass
    try:
        usage = cert.extensions.get_extension_for_class(_x509.KeyUsage).value
        signs = usage.digital_signature
    except _x509.ExtensionNotFound:
        signs = False
    if not signs:
        yield Check(
            "certificate",
            FAIL,
            f"{subject} lacks the digitalSignature key usage",
            "reissue it with keyUsage = critical, digitalSignature",
        )
        return
    start, end = not_valid_before(cert), not_valid_after(cert)
    if now < start:
        yield Check(
            "certificate",
            FAIL,
            f"{subject} is not valid before {start:%Y-%m-%d %H:%M}Z",
            "check the system clock (NTP), or wait until it becomes valid",
        )
        return
    if now >= end:
        yield Check("certificate", FAIL, f"{subject} expired on {end:%Y-%m-%d %H:%M}Z", "renew the certificate")
        return
    days = (end - now).total_seconds() / 86400
    text = f"{subject}: v3, digitalSignature, not a CA, valid until {end:%Y-%m-%d} ({days:.0f} days left)"
    if days < EXPIRY_WARNING_DAYS:
        yield Check("certificate", WARN, text, "renew it soon")
    else:
        yield Check("certificate", PASS, text)


def check_chain(
    leaf: x509.Certificate, chain: list[x509.Certificate], anchor: list[x509.Certificate] | None
) -> Iterator[Check]:
    """Order (each issued by the next), duplicates, depth, and path validation to a trust anchor PEM."""
    path = [leaf, *chain]
    failure = _chain_duplicate(leaf, chain) or _chain_too_deep(chain) or _chain_out_of_order(path)
    if failure is not None:
        yield failure
        return
    if anchor:
        yield _chain_to_anchor(path[-1], len(chain), anchor)
        return
    yield Check(
        "chain",
        PASS,
        f"{len(chain)} intermediate(s), in order, no duplicates"
        + ("" if chain else " (pass --trust-anchor-pem to validate the path)"),
    )


def _chain_duplicate(leaf: x509.Certificate, chain: list[x509.Certificate]) -> Check | None:
    """A certificate given twice (or the leaf again) makes the service reject the whole path."""
    from rasign.certs import fingerprint

    seen: set[str] = {fingerprint(leaf)}
    for cert in chain:
        print_ = fingerprint(cert)
        if print_ in seen:
            return Check(
                "chain",
                FAIL,
                f"{cert.subject.rfc4514_string()} appears twice in the chain",
                "remove the duplicate from --intermediates",
            )
        seen.add(print_)
    return None


def _chain_too_deep(chain: list[x509.Certificate]) -> Check | None:
    """Roles Anywhere refuses a path longer than :data:`MAX_CHAIN_DEPTH`, however valid."""
    if len(chain) + 1 <= MAX_CHAIN_DEPTH:
        return None
    return Check(
        "chain",
        FAIL,
        f"the path has {len(chain) + 1} certificates; Roles Anywhere accepts at most {MAX_CHAIN_DEPTH}",
        "shorten the chain (drop the root and cross-signed extras)",
    )


def _chain_out_of_order(path: list[x509.Certificate]) -> Check | None:
    """The first certificate not issued (name and signature) by the one after it."""
    for child, parent in zip(path, path[1:], strict=False):
        if child.issuer != parent.subject or not _signed_by(child, parent):
            return Check(
                "chain",
                FAIL,
                f"{child.subject.rfc4514_string()} is not issued by the next certificate "
                f"({parent.subject.rfc4514_string()})",
                "put the intermediates in order, leaf's issuer first, and only certificates of this path",
            )
    return None


def _chain_to_anchor(top: x509.Certificate, intermediates: int, anchor: list[x509.Certificate]) -> Check:
    """The path's top is issued by a trust anchor certificate, or is one of them."""
    from rasign.certs import fingerprint

    issuer = next((ca for ca in anchor if ca.subject == top.issuer and _signed_by(top, ca)), None)
    if issuer is None and not any(fingerprint(ca) == fingerprint(top) for ca in anchor):
        return Check(
            "chain",
            FAIL,
            f"{top.subject.rfc4514_string()} does not chain to the trust anchor certificate given",
            "pass the intermediate CAs with --intermediates, or check the trust anchor",
        )
    return Check("chain", PASS, f"{intermediates} intermediate(s), in order, validated to the trust anchor")


def _signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, Exception):  # noqa: BLE001 - InvalidSignature and friends mean "no"
        return False
    return True


def check_key_file(key_path: str, cert: x509.Certificate, password: str | None) -> Iterator[Check]:
    """A key in a PEM/DER file: does its public half match the certificate? (no signing)."""
    from cryptography.hazmat.primitives import serialization

    from rasign.certs import key_matches_certificate

    try:
        with open(key_path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        yield Check("key", FAIL, f"cannot read {key_path}: {err.strerror}", "check the path and its permissions")
        return
    if b"TSS2 PRIVATE KEY" in data:
        yield Check(
            "key", WARN, "TPM key file: matched against the certificate only with --live", "run rasign doctor --live"
        )
        return
    secret = password.encode() if password else None
    try:
        if data.lstrip().startswith(b"-----"):
            key = serialization.load_pem_private_key(data, secret)
        else:
            key = serialization.load_der_private_key(data, secret)
    except TypeError:
        yield Check(
            "key",
            WARN,
            f"{key_path} is encrypted; not checked without its password",
            "give --pkcs8-password (or RASIGN_PKCS8_PASSWORD) to check it",
        )
        return
    except ValueError:
        yield Check(
            "key",
            FAIL,
            f"{key_path} is not a private key rasign can read (or the password is wrong)",
            "pass the PEM/DER private key issued with this certificate",
        )
        return
    if key_matches_certificate(key.public_key(), cert):
        yield Check("key", PASS, f"{key_path} matches the certificate")
    else:
        yield Check(
            "key",
            FAIL,
            f"{key_path} does not match the certificate's public key",
            "pair the certificate with the key it was issued for",
        )


# --------------------------------------------------------------------------- PKCS#11


def check_pkcs11(options: SignerOptions) -> Iterator[Check]:
    """Module loads, a token matches, the PIN source is readable: no login, no PIN attempt.

    The PKCS#11 backend answers (its ``diagnose``), so the module choice, the
    ``C_Initialize`` arguments, the token filters and the PIN sources are exactly those
    ``credential-process`` would use.
    """
    from rasign.registry import load_backend

    yield from load_backend("pkcs11").diagnose(options)


# --------------------------------------------------------------------------- TPM

TPM_TCTI_VARIABLES = ("RASIGN_TPM_TCTI", "TPM_DEVICE", "TPM2TOOLS_TCTI", "TPM2OPENSSL_TCTI", "TPM2_PKCS11_TCTI", "TCTI")
"""The TPM backend's precedence after ``--tpm-tcti`` (see its tcti module), then /dev/tpmrm0."""


def check_tpm(options: SignerOptions) -> Iterator[Check]:
    """The TPM answers where the backend will look: a device we may open, or a simulator's port.

    No TPM command is sent, so no authorisation is tried and no lockout counter moves.
    """
    spec = _tpm_spec(options)
    name, _, conf = spec.partition(":") if not spec.startswith("/") else ("device", "", spec)
    if name == "device":
        yield _check_tpm_device(conf or "/dev/tpmrm0")
    elif name in ("swtpm", "mssim") and "path=" not in conf:
        yield _check_tpm_socket(spec, conf)
    else:
        yield Check("tpm", WARN, f"TCTI {spec!r} is not checked without --live", "run rasign doctor --live")


def _tpm_spec(options: SignerOptions) -> str:
    """The TCTI the backend would use: ``--tpm-tcti``, the variables in order, then the first device present."""
    spec = options.tpm_tcti or next((os.environ[name] for name in TPM_TCTI_VARIABLES if os.environ.get(name)), None)
    if spec is None:
        spec = next((device for device in ("/dev/tpmrm0", "/dev/tpm0") if os.path.exists(device)), "/dev/tpmrm0")
    return spec


def _check_tpm_device(path: str) -> Check:
    """The device exists and this user may open it for reading and writing."""
    if not os.path.exists(path):
        return Check("tpm", FAIL, f"{path} does not exist", "enable the TPM in the firmware, or pass --tpm-tcti")
    if not os.access(path, os.R_OK | os.W_OK):
        return Check(
            "tpm", FAIL, f"no permission to open {path}", "add this user to the tss group (or the device's group)"
        )
    return Check("tpm", PASS, f"{path} can be opened")


def _check_tpm_socket(spec: str, conf: str) -> Check:
    """A simulator's command port accepts a TCP connection (nothing is sent)."""
    import socket

    settings = dict(part.partition("=")[::2] for part in conf.split(",") if "=" in part)
    host, port = settings.get("host", "localhost"), int(settings.get("port", "2321") or 2321)
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as err:
        return Check(
            "tpm",
            FAIL,
            f"nothing answers at {host}:{port} ({spec}): {err.strerror or err}",
            "start the TPM simulator, or fix --tpm-tcti",
        )
    return Check("tpm", PASS, f"{spec} accepts connections")


# --------------------------------------------------------------------------- ARNs and endpoint


def check_pinentry() -> Iterator[Check]:
    """``$RASIGN_PINENTRY``, when set: the program prompts will go to exists and the timeout parses.

    A broken setting only shows when a PIN is needed, so doctor is where it should surface first.
    """
    from rasign import pinentry

    if pinentry.check():
        yield Check("pinentry", PASS, f"PIN and password prompts go to {pinentry.configured()}")


def check_arns(options: SessionOptions | PlannedSession) -> Iterator[Check]:
    """The three ARNs agree on partition, region and account (same rules as every command)."""
    from rasign.session import ensure_planned

    planned = ensure_planned(options)
    target, endpoint = planned.target, planned.endpoint
    accounts = {
        "trust anchor": target.trust_anchor.account,
        "profile": target.profile.account,
        "role": target.role.account,
    }
    if len(set(accounts.values())) != 1:
        listed = ", ".join(f"{what} {account}" for what, account in accounts.items())
        yield Check(
            "arns",
            FAIL,
            f"the ARNs name different accounts ({listed})",
            "trust anchor, profile and role must be in one account; reach other accounts with a role chain",
        )
        return
    yield Check(
        "arns",
        PASS,
        f"partition {target.trust_anchor.partition}, region {target.region}, account "
        f"{target.trust_anchor.account}; endpoint {endpoint.url}",
    )


def check_endpoint(options: SessionOptions | PlannedSession, now: _dt.datetime) -> Iterator[Check]:
    """DNS, TCP, TLS with the CA bundle, proxy in use, and clock skew against the answer's ``Date``."""
    import socket
    import urllib.parse

    from rasign.session import ensure_planned, tls_verify

    planned = ensure_planned(options)
    endpoint, session = planned.endpoint, planned.options
    parsed = urllib.parse.urlsplit(endpoint.url)
    host, port = parsed.hostname or endpoint.host, parsed.port or 443
    proxy = _proxy_for(host, port)
    if proxy:
        yield Check(
            "proxy",
            WARN,
            f"requests go through the proxy {proxy}",
            "unset HTTPS_PROXY or add the host to NO_PROXY if that is not intended",
        )
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        yield Check("dns", FAIL, f"cannot resolve {host}: {err.strerror}", "check --endpoint/--region and DNS")
        return
    yield Check("dns", PASS, f"{host} -> {addresses[0][4][0]}")
    if not proxy:
        try:
            socket.create_connection((host, port), timeout=session.connect_timeout).close()
        except OSError as err:
            yield Check(
                "tcp",
                FAIL,
                f"cannot connect to {host}:{port}: {err.strerror or err}",
                "check the network, firewall and --endpoint",
            )
            return
        yield Check("tcp", PASS, f"connected to {host}:{port}")
    yield from check_tls_and_clock(endpoint.url, tls_verify(session), session.connect_timeout, now)


def check_tls_and_clock(url: str, verify: bool | str, timeout: float, now: _dt.datetime) -> Iterator[Check]:
    """One HTTPS request: the TLS handshake verifies the server, its ``Date`` header shows clock skew."""
    from rasign.network_errors import cause
    from rasign.session import clock_skew
    from rasign.transport import HttpsClient, TlsFailed

    try:
        with HttpsClient(verify=verify, connect_timeout=timeout, read_timeout=timeout) as client:
            response = client.request("GET", url)
    except TlsFailed as err:
        yield Check(
            "tls",
            FAIL,
            f"TLS verification failed: {cause(err, connect_timeout=timeout, read_timeout=timeout)}",
            "pass --ca-bundle (or AWS_CA_BUNDLE) with the CA that signs the endpoint's certificate",
        )
        return
    except OSError as err:  # the transport's errors and the socket errors below them
        reason = cause(err, connect_timeout=timeout, read_timeout=timeout)
        yield Check("tls", FAIL, f"HTTPS request failed: {reason}", "check the network, proxy and --endpoint")
        return
    yield Check(
        "tls",
        PASS,
        "certificate verified" + (f" with {verify}" if isinstance(verify, str) else "")
        if verify
        else "verification disabled (--no-verify-ssl)",
    )
    skew = clock_skew(response.headers, now)
    if skew is None:
        yield Check("clock", WARN, "the endpoint sent no Date header; clock skew not measured")
    elif abs(skew) > CLOCK_SKEW_LIMIT:
        yield Check(
            "clock",
            FAIL,
            f"the local clock is off by {skew:+.0f} s from the endpoint's",
            "fix the system time (NTP); SigV4 allows 5 minutes",
        )
    else:
        yield Check("clock", PASS, f"skew {skew:+.0f} s against the endpoint")


def _proxy_for(host: str, port: int) -> str | None:
    """The proxy rasign's transport would use for the endpoint (same rules, same variables)."""
    from rasign.proxies import proxy_for

    proxy = proxy_for("https", host, port)
    return proxy.shown if proxy else None


# --------------------------------------------------------------------------- all together


def run_checks(
    signer_options: SignerOptions,
    session_options: SessionOptions,
    *,
    trust_anchor_pem: str | None = None,
    live: bool = False,
    now: _dt.datetime | None = None,
    network: bool = True,
) -> list[Check]:
    """Every check that applies to these options, in the order a failure would happen."""
    from rasign.session import plan_session

    now = now or _dt.datetime.now(_dt.timezone.utc)
    planned: SessionOptions | PlannedSession = session_options

    def arns() -> Iterator[Check]:
        nonlocal planned
        planned = plan_session(session_options)  # once: the endpoint and live checks reuse it
        yield from check_arns(planned)

    results = _safe(arns, "arns")
    certificate_checks, leaf = _certificate_checks(signer_options, trust_anchor_pem, now)
    results += certificate_checks
    results += _key_checks(signer_options, leaf)
    results += _safe(check_pinentry, "pinentry")
    if network and not any(check.name == "arns" and check.status == FAIL for check in results):
        results += _safe(lambda: check_endpoint(planned, now), "endpoint")
    if live:
        results += _safe(lambda: _live(signer_options, planned), "live")
    return results


def _certificate_checks(
    signer_options: SignerOptions, trust_anchor_pem: str | None, now: _dt.datetime
) -> tuple[list[Check], x509.Certificate | None]:
    """The certificate file and its chain, and the leaf read (None for a token's or a store's certificate)."""
    certificate = signer_options.certificate
    if not certificate or certificate.startswith("pkcs11:"):
        return [], None
    from rasign import certs

    leaf: x509.Certificate | None = None

    def load() -> Iterator[Check]:
        nonlocal leaf
        found = certs.load_certificates(certificate)
        leaf, extra = found[0], found[1:]
        yield from check_certificate(leaf, now)
        chain = extra + (
            certs.load_certificates(signer_options.intermediates, "intermediate certificate")
            if signer_options.intermediates
            else []
        )
        anchor = certs.load_certificates(trust_anchor_pem, "trust anchor") if trust_anchor_pem else None
        yield from check_chain(leaf, chain, anchor)

    results = _safe(load, "certificate")
    return results, leaf


def _key_checks(signer_options: SignerOptions, leaf: x509.Certificate | None) -> list[Check]:
    """The key's own checks, by where it lives: a token, a TPM, a file matched with the leaf, or a store."""
    key = signer_options.private_key or ""
    certificate = signer_options.certificate or ""
    if key.startswith("pkcs11:") or certificate.startswith("pkcs11:"):
        return _safe(lambda: check_pkcs11(signer_options), "pkcs11 module")
    if key.startswith("handle:") or signer_options.tpm_tcti or _is_tss2_file(key):
        return [
            *_safe(lambda: check_tpm(signer_options), "tpm"),
            Check("key", WARN, "TPM key: loaded and matched only with --live", "run rasign doctor --live"),
        ]
    if key and leaf is not None:
        password = signer_options.pkcs8_password or os.environ.get("RASIGN_PKCS8_PASSWORD")
        return _safe(lambda: check_key_file(key, leaf, password), "key")
    if signer_options.cert_selector:
        return [Check("key", WARN, "certificate store identity: checked only with --live", "run rasign doctor --live")]
    return []


def _is_tss2_file(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return b"TSS2 PRIVATE KEY" in handle.read(4096)
    except OSError:
        return False


def _live(signer_options: SignerOptions, session_options: SessionOptions | PlannedSession) -> Iterator[Check]:
    from rasign.workflow import obtain_credentials

    credentials = obtain_credentials(signer_options, session_options)
    yield Check(
        "live", PASS, f"CreateSession returned credentials for {credentials.role_arn} until {credentials.expiration}"
    )


def exit_code(results: list[Check]) -> int:
    """0 when nothing failed (warnings are advice), 1 otherwise."""
    return 1 if any(check.status == FAIL for check in results) else 0


def as_json(results: list[Check]) -> dict[str, Any]:
    return {"ok": exit_code(results) == 0, "checks": [check.to_dict() for check in results]}
