"""The CreateSession client: sign, send, retry, and explain failures.

Wire format follows the official helper exactly (reference-helper.md 3.4-3.6): the three
ARNs in the sorted query string, ``durationSeconds`` then optional ``roleSessionName`` /
``instanceProperties`` in a compact JSON body, ``X-Amz-X509`` (+ ``X-Amz-X509-Chain``)
signed. Differences from the Go tool are deliberate fixes: the path that is posted is the
path that is signed, ``--endpoint`` beats environment overrides, errors carry a fix.

Retries: connection errors, timeouts, 5xx and throttling are retried with capped
exponential backoff and full jitter, each attempt signed afresh (new ``X-Amz-Date``).
4xx answers are never retried: they will not change, and CreateSession is rate limited.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from rasign import __version__, certs, sigv4x509, validate
from rasign.arns import Target, check_duration, resolve_target
from rasign.credentials import Credentials, parse_timestamp
from rasign.endpoints import Endpoint, resolve_endpoint
from rasign.errors import (
    AccessDenied,
    CertificateError,
    ConfigError,
    NetworkError,
    RasignError,
    ServiceError,
    Throttled,
)
from rasign.logs import get_logger, register_secret
from rasign.textsafe import clean

if TYPE_CHECKING:
    from rasign.options import SessionOptions
    from rasign.signer import Signer
    from rasign.transport import Answer, AnswerTooLarge, HttpsClient, TlsFailed

log = get_logger("session")

RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
BACKOFF_BASE = 0.5
BACKOFF_CAP = 20.0
CLOCK_SKEW_LIMIT = 300.0
_MALFORMED_HINT = "the endpoint did not answer like Roles Anywhere; check --endpoint and any proxy"


@dataclass(frozen=True)
class PreparedRequest:
    """One signed CreateSession attempt, kept whole for ``--debug`` and tests."""

    url: str
    headers: dict[str, str]
    body: bytes
    signed: sigv4x509.SignedRequest


class SessionClient:
    """Mint Roles Anywhere sessions with one signer; reusable for long-running refresh.

    The HTTP connection pool is kept between calls, so ``serve``/``update`` pay the TLS
    handshake once.
    """

    def __init__(
        self,
        signer: Signer,
        planned: PlannedSession,
        *,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not isinstance(planned, PlannedSession):
            raise TypeError(
                f"SessionClient takes the PlannedSession that plan_session(options) returns, "
                f"not {type(planned).__name__}: plan once, then hand the plan to the client"
            )
        self.signer = signer
        self.planned = planned
        self.options = planned.options
        self.target, self.endpoint = planned.target, planned.endpoint
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._sleep = sleep
        self._http: HttpsClient | None = None

    # -- request construction ------------------------------------------------------

    def body(self) -> bytes:
        """Compact JSON body: durationSeconds first, then the optional members."""
        payload: dict[str, Any] = {"durationSeconds": self.options.session_duration}
        if self.options.role_session_name:
            payload["roleSessionName"] = self.options.role_session_name
        if self.options.instance_properties:
            payload["instanceProperties"] = dict(self.options.instance_properties)
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def query(self) -> list[tuple[str, str]]:
        """The three ARNs, as the official helper sends them (query string, sorted)."""
        return [
            ("profileArn", self.options.profile_arn),
            ("roleArn", self.options.role_arn),
            ("trustAnchorArn", self.options.trust_anchor_arn),
        ]

    def prepare(self, attempt: int = 1, invocation: str | None = None) -> PreparedRequest:
        """Build and sign one attempt at the current time."""
        leaf = self.signer.certificate
        if leaf is None:
            raise CertificateError(
                "unable to find certificate: the key source has no certificate",
                hint="pass --certificate with the certificate issued for this key",
            )
        body = self.body()
        headers: list[tuple[str, str]] = [
            ("Content-Type", "application/json"),
            ("Host", self.endpoint.host),
            ("X-Amz-Date", sigv4x509.amz_date(self._clock())),
            ("X-Amz-X509", certs.x509_header(leaf)),
            ("Amz-Sdk-Invocation-Id", invocation or invocation_id()),
            ("Amz-Sdk-Request", f"attempt={attempt}; max={self.options.max_attempts}"),
        ]
        chain = self.signer.chain
        if chain:
            headers.append(("X-Amz-X509-Chain", certs.chain_header(chain)))
        query = self.query()
        request = sigv4x509.CanonicalInput(
            method="POST", path=self.endpoint.sessions_path, query=query, headers=headers, body=body
        )
        signed = sigv4x509.sign_request(
            request,
            algorithm=self.signer.algorithm,
            serial_number=leaf.serial_number,
            region=self.target.region,
            sign=lambda message: self.signer.sign(message, "SHA256"),
        )
        # Nothing secret in these two: the certificate is public and the signature is not in them.
        log.debug("canonical request:\n%s", signed.canonical_request)
        log.debug("string to sign:\n%s", signed.string_to_sign)
        send_headers = dict(signed.headers)
        send_headers["User-Agent"] = f"rasign/{__version__}"
        url = f"{self.endpoint.sessions_url}?{sigv4x509.wire_query(query)}"
        return PreparedRequest(url=url, headers=send_headers, body=body, signed=signed)

    # -- transport -----------------------------------------------------------------

    def _session(self) -> HttpsClient:
        # Imported here, not with the module: plan_session runs on every credential-process,
        # cache hits included, and a hit needs neither ssl nor sockets.
        from rasign.transport import HttpsClient

        if self._http is None:
            self._http = HttpsClient(
                verify=tls_verify(self.options),
                connect_timeout=self.options.connect_timeout,
                read_timeout=self.options.read_timeout,
            )
        return self._http

    def close(self) -> None:
        """Close the kept-alive connection (the signer is the caller's to close)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def create_session(self) -> Credentials:
        """Call CreateSession with retries and return the first credential set."""
        from rasign.transport import AnswerTooLarge, TlsFailed

        self._session().check(self.endpoint.sessions_url)  # CA bundle and proxy: before anything is signed
        invocation = invocation_id()
        attempts = max(1, self.options.max_attempts)
        last_error: Exception | None = None
        for attempt in range(1, attempts + 1):
            prepared = self.prepare(attempt, invocation)
            try:
                answer = self._session().request("POST", prepared.url, headers=prepared.headers, body=prepared.body)
            except (TlsFailed, AnswerTooLarge) as err:
                raise self._fatal_error(err) from err
            except OSError as err:  # every TransportError, and the socket errors below them
                last_error = self._network_error(err)
                log.debug("attempt %d/%d failed: %s", attempt, attempts, last_error.message)
            else:
                if 200 <= answer.status < 300:
                    return self._parse_success(answer)
                error = service_error(answer, self._clock())
                if not _retryable(answer.status, error.code):
                    raise error
                last_error = error
                log.debug("attempt %d/%d got HTTP %d %s", attempt, attempts, answer.status, error.code)
            if attempt < attempts:
                self._sleep(backoff_delay(attempt))
        assert last_error is not None
        if isinstance(last_error, ServiceError):
            last_error.message = f"exceeded maximum number of attempts, {attempts}, {last_error.message}"
            if last_error.code in THROTTLING_CODES or last_error.status == 429:
                throttled = Throttled(
                    last_error.message,
                    status=last_error.status,
                    code=last_error.code,
                    service_message=last_error.service_message,
                    request_id=last_error.request_id,
                    hint="CreateSession allows 10 requests/s per account and region; use the credential cache, serve or update",
                )
                raise throttled from last_error
        raise last_error

    def _cause(self, err: BaseException) -> str:
        from rasign.network_errors import cause as network_cause  # only on failure

        return network_cause(err, connect_timeout=self.options.connect_timeout, read_timeout=self.options.read_timeout)

    def _fatal_error(self, err: TlsFailed | AnswerTooLarge) -> RasignError:
        """Failures a retry cannot cure: an untrusted endpoint, an answer too large to be real."""
        from rasign.transport import MAX_ANSWER_BYTES, AnswerTooLarge

        url = self.endpoint.sessions_url  # never the query string: it is long and says nothing
        if isinstance(err, AnswerTooLarge):
            return ServiceError(
                f"CreateSession at {url} answered with more than {MAX_ANSWER_BYTES // 1024} KiB", hint=_MALFORMED_HINT
            )
        whose = "proxy's" if getattr(err, "via_proxy", False) else "endpoint's"
        return NetworkError(
            f"TLS error talking to {url}: {self._cause(err)}",
            hint=f"pass --ca-bundle (or AWS_CA_BUNDLE) with the CA that signs the {whose} certificate",
        )

    def _network_error(self, err: OSError) -> NetworkError:
        """A failure worth retrying (refused, reset, timed out, not HTTP), in plain words."""
        from rasign.transport import AnswerTooSlow

        reason = (
            f"timed out after {self.options.read_timeout:g} s reading the answer"
            if isinstance(err, AnswerTooSlow)
            else self._cause(err)
        )
        from rasign.network_errors import through_proxy

        hint = (
            "check the proxy address and credentials in HTTPS_PROXY, or exempt the endpoint with NO_PROXY"
            if through_proxy(err)
            else "check network access, proxy settings (HTTPS_PROXY/NO_PROXY) and --endpoint"
        )
        error = NetworkError(f"request send failed, POST {self.endpoint.sessions_url}: {reason}", hint=hint)
        error.__cause__ = err
        return error

    def _parse_success(self, answer: Answer) -> Credentials:
        request_id = answer.header("x-amzn-RequestId")

        def malformed(problem: str) -> ServiceError:
            return ServiceError(
                f"unable to obtain temporary security credentials from CreateSession: {problem}",
                status=answer.status,
                request_id=request_id,
                hint=_MALFORMED_HINT,
            )

        entry = _credential_entry(answer, malformed)
        values = _credential_values(entry, malformed)
        returned_role = entry.get("roleArn") or ""
        if not isinstance(returned_role, str):
            raise malformed("roleArn is not text")
        if returned_role and returned_role != self.options.role_arn:
            raise ServiceError(
                f"CreateSession returned credentials for {clean(returned_role, 200)}, "
                f"not the requested {self.options.role_arn}",
                status=answer.status,
            )
        assumed = entry.get("assumedRoleUser") or {}
        assumed_arn = assumed.get("arn", "") if isinstance(assumed, dict) else ""
        log.debug("CreateSession succeeded (HTTP %d, request id %s)", answer.status, request_id)
        return Credentials(
            access_key_id=values["accessKeyId"],
            secret_access_key=values["secretAccessKey"],
            session_token=values["sessionToken"],
            expiration=values["expiration"],
            role_arn=returned_role or self.options.role_arn,
            assumed_role_arn=clean(assumed_arn, 2048) if isinstance(assumed_arn, str) else "",
        )


def _credential_entry(answer: Answer, malformed: Callable[[str], ServiceError]) -> dict[str, Any]:
    """``credentialSet[0]`` of a success answer, checked to be an object."""
    try:
        document = answer.json()
    except (ValueError, UnicodeDecodeError) as err:
        raise malformed(f"HTTP {answer.status} answer is not JSON") from err
    entries = _member(document, "credentialSet", list, malformed)
    if not entries:
        raise malformed("credentialSet is empty")
    if not isinstance(entries[0], dict):
        raise malformed("credentialSet[0] is not an object")
    return entries[0]


def _credential_values(entry: dict[str, Any], malformed: Callable[[str], ServiceError]) -> dict[str, str]:
    """The four credential fields: present, text, printable tokens, a readable expiration.

    The secrets are registered for redaction as soon as they are known to be well formed.
    """
    creds = _member(entry, "credentials", dict, malformed)
    names = ("accessKeyId", "secretAccessKey", "sessionToken", "expiration")
    values = {name: _member(creds, name, str, malformed) for name in names}
    if not all(values.values()):
        raise malformed("empty credential fields")
    for name, value in values.items():
        if len(value) > 16384 or not value.isascii() or any(not ch.isprintable() or ch.isspace() for ch in value):
            raise malformed(f"credentials.{name} is not a printable token")
    for secret in (values["secretAccessKey"], values["sessionToken"]):
        register_secret(secret)
    try:
        parse_timestamp(values["expiration"])
    except (ValueError, OverflowError) as err:
        raise malformed(f"unreadable expiration {clean(values['expiration'], 60)!r}") from err
    return values


def _member(document: Any, name: str, kind: type, malformed: Callable[[str], ServiceError]) -> Any:
    """``document[name]`` when ``document`` is an object and the member has type ``kind``."""
    if not isinstance(document, dict):
        raise malformed(f"expected a JSON object holding {name}, got {type(document).__name__}")
    if name not in document:
        raise malformed(f"{name} is missing")
    value = document[name]
    if not isinstance(value, kind):
        raise malformed(f"{name} is {type(value).__name__}, not {kind.__name__}")
    return value


@dataclass(frozen=True)
class PlannedSession:
    """Session inputs checked once: the options, the resolved target and the endpoint.

    :func:`plan_session` is the only producer; :class:`SessionClient` takes this instead of
    the options, so a command validates once and the client never re-checks.
    """

    options: SessionOptions
    target: Target
    endpoint: Endpoint


def plan_session(options: SessionOptions) -> PlannedSession:
    """Check every session input that needs no key or network; return the plan.

    Commands call this before opening a signer, so a typo in an ARN never costs a PIN entry
    or a token operation.
    """
    check_transport(options)
    target = resolve_target(options.trust_anchor_arn, options.profile_arn, options.role_arn, options.region)
    check_duration(options.session_duration)
    check_session_name(options.role_session_name)
    check_instance_properties(options.instance_properties)
    endpoint = resolve_endpoint(
        target.region,
        endpoint=options.endpoint,
        use_fips=options.use_fips_endpoint or bool(options.region and "fips" in options.region),
        use_dualstack=options.use_dualstack_endpoint,
        arn_partition=target.trust_anchor.partition,
    )
    check_route(options, endpoint)
    return PlannedSession(options, target, endpoint)


def check_route(options: SessionOptions, endpoint: Endpoint) -> None:
    """The CA bundle and the proxy the request would use: read and parsed before any key opens.

    Both only fail on the first request otherwise, which comes after a PKCS#11 login or a
    TPM key load: a typo in ``HTTPS_PROXY`` or ``--ca-bundle`` must not cost a PIN entry.
    """
    from urllib.parse import urlsplit

    bundle = None if options.no_verify_ssl else options.ca_bundle or os.environ.get("AWS_CA_BUNDLE")
    if bundle:
        check_ca_bundle_file(bundle)  # OpenSSL loads it before the first signature (HttpsClient.check)
    elif not options.no_verify_ssl:
        check_system_store_variables()
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return  # no proxy set (most machines): a cache hit need not import the proxy rules
    from rasign.proxies import proxy_for

    parts = urlsplit(endpoint.sessions_url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https") and parts.hostname:
        proxy_for(scheme, parts.hostname, parts.port or (443 if scheme == "https" else 80))


def ensure_planned(session: SessionOptions | PlannedSession) -> PlannedSession:
    """``session`` if it is already planned, else :func:`plan_session` of it.

    For entry points that take either (the minters, :func:`rasign.workflow.obtain_credentials`):
    a caller that planned already hands the plan on and nothing is validated twice.
    """
    return session if isinstance(session, PlannedSession) else plan_session(session)


def check_transport(options: SessionOptions) -> None:
    """Every field of its declared type, timeouts finite and positive, attempts 1-100: before any request."""
    validate.option_types(options)
    validate.seconds(options.connect_timeout, "connect timeout")
    validate.seconds(options.read_timeout, "read timeout")
    validate.max_attempts(options.max_attempts)


def create_session(signer: Signer, session: SessionOptions | PlannedSession) -> Credentials:
    """One-shot CreateSession with a fresh client."""
    client = SessionClient(signer, ensure_planned(session))
    try:
        return client.create_session()
    finally:
        client.close()


def tls_verify(options: SessionOptions) -> bool | str:
    """What to verify the endpoint against: --ca-bundle, AWS_CA_BUNDLE, else the system store.

    ``REQUESTS_CA_BUNDLE`` and ``CURL_CA_BUNDLE`` play no part (the AWS CLI ignores them
    too); ``SSL_CERT_FILE``/``SSL_CERT_DIR`` change the system store, as for any OpenSSL
    program. The answer also feeds boto3 (role chaining), hence the warning filter: rasign
    says once itself that verification is off, urllib3 would repeat it for each request.
    """

    if options.no_verify_ssl:
        import warnings

        warnings.filterwarnings("ignore", message="Unverified HTTPS request")
        log.warning("TLS certificate verification is disabled (--no-verify-ssl)")
        return False
    # The file was checked when the session was planned (check_route); OpenSSL parses it once,
    # in rasign.transport.tls_context, which names an unusable bundle in one line itself.
    return options.ca_bundle or os.environ.get("AWS_CA_BUNDLE") or True


_CA_HINT = "pass a PEM file of CA certificates to --ca-bundle / AWS_CA_BUNDLE"


def check_ca_bundle_file(bundle: str) -> None:
    """A regular, readable file with a PEM certificate in it: without importing ssl.

    Run while planning, on every credential-process (cache hits too), so it stays cheap; the
    full OpenSSL load (:func:`rasign.transport.tls_context`) follows before the first signature.
    """
    from rasign.localfile import NotReadable, read_regular

    shown = clean(bundle, 300)
    if not os.path.isfile(bundle):  # the words rasign has always used, a directory included
        raise ConfigError(f"CA bundle not found: {shown}", hint="pass a PEM file to --ca-bundle / AWS_CA_BUNDLE")
    try:
        content = read_regular(bundle, limit=1 << 20, head=True)  # a certificate within the first MiB
    except NotReadable as err:
        raise ConfigError(f"cannot use the CA bundle {shown}: {err.reason}", hint=_CA_HINT) from None
    if b"-----BEGIN CERTIFICATE-----" not in content and b"-----BEGIN TRUSTED CERTIFICATE-----" not in content:
        raise ConfigError(f"cannot use the CA bundle {shown}: it holds no PEM certificate", hint=_CA_HINT)


def check_system_store_variables() -> None:
    """``SSL_CERT_FILE`` and ``SSL_CERT_DIR``, when set, name a file and directories (or nothing).

    OpenSSL reads them while the system store loads, and blocks for ever on a FIFO there; a
    path that does not exist it ignores, and so does this.
    """
    import stat

    wanted = [("SSL_CERT_FILE", os.environ.get("SSL_CERT_FILE") or "", stat.S_ISREG, "a file")]
    for entry in (os.environ.get("SSL_CERT_DIR") or "").split(os.pathsep):
        wanted.append(("SSL_CERT_DIR", entry, stat.S_ISDIR, "a directory"))
    for name, path, kind, word in wanted:
        if not path:
            continue
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue
        if not kind(mode):
            raise ConfigError(
                f"{name} names {clean(path, 200)}, which is not {word}",
                hint=f"point {name} at {word} of PEM certificates, or unset it",
            )


def service_error(answer: Answer, now: datetime) -> ServiceError:
    """Turn a non-2xx answer into an error that says what to do about it.

    Everything the server sent (code, message, request id) is cleaned first: it reaches a
    terminal and logs, and a server or proxy can put escape sequences or megabytes in it.
    """
    code, message = _error_fields(answer)
    request_id = answer.header("x-amzn-RequestId")
    text = (
        f"operation error RolesAnywhere: CreateSession, https response error StatusCode: {answer.status}, "
        f"RequestID: {request_id}, {code}: {message}"
    )
    hint = _hint_for(code, message, answer.headers, now)
    kwargs = dict(status=answer.status, code=code, service_message=message, request_id=request_id, hint=hint)
    if code == "AccessDeniedException" or answer.status == 403:
        return AccessDenied(text, **kwargs)  # type: ignore[arg-type]
    if code in THROTTLING_CODES or answer.status == 429:
        return Throttled(text, **kwargs)  # type: ignore[arg-type]
    return ServiceError(text, **kwargs)  # type: ignore[arg-type]


def _error_fields(answer: Answer) -> tuple[str, str]:
    """The error code and message of a failure answer, cleaned; a non-JSON body is shown cut short."""
    code = answer.headers.get("x-amzn-ErrorType", "") or ""
    message = ""
    try:
        document = answer.json()
    except (ValueError, UnicodeDecodeError):
        document = None
    if isinstance(document, dict):
        code = code or str(document.get("code") or document.get("__type") or "")
        raw_message = document.get("message") or document.get("Message") or ""
        message = raw_message if isinstance(raw_message, str) else f"(a JSON {type(raw_message).__name__}, not text)"
    code = clean(code.split(":", 1)[0].rsplit("#", 1)[-1], 100) or "UnknownError"
    message = clean(message, 300)
    if not message and not isinstance(document, dict):
        message = clean(answer.body[:2000], 120) or "(empty body)"
    return code, message


_HINTS: tuple[tuple[str | None, tuple[tuple[str, ...], ...], str], ...] = (
    (
        None,
        (("untrusted signing certificate",),),
        "the certificate does not chain to the trust anchor: check --trust-anchor-arn, and pass the "
        "intermediate CAs with --intermediates (or a full-chain --certificate)",
    ),
    (None, (("rolesessionname",),), "the profile must set acceptRoleSessionName=true to allow --role-session-name"),
    (
        None,
        (("session tags", "attributes fail to be mapped"),),
        "a certificate subject/SAN value breaks STS tag rules (e.g. parentheses); "
        "adjust the profile's attribute mappings",
    ),
    (
        None,
        (("instance",), ("propert",)),
        "the profile requires instance properties: pass --instance-property KEY=VALUE",
    ),
    (
        "ResourceNotFoundException",
        (),
        "check the trust anchor, profile and role ARNs and that they are enabled in this region",
    ),
    (
        "ValidationException",
        (("duration",),),
        "--session-duration must be 900-43200 and within the role's MaxSessionDuration",
    ),
    (
        "AccessDeniedException",
        (("role", "not authorized"),),
        "check that the profile lists the role and that the role trusts rolesanywhere.amazonaws.com",
    ),
)
"""(error code or None for any, groups of words of which each group needs one in the message, hint)."""


def _hint_for(code: str, message: str, headers: Any, now: datetime) -> str | None:
    """The fix for a known service error; a signature problem names the clock's direction."""
    lowered = message.lower()
    signature = "signature" in lowered and any(word in lowered for word in ("expired", "not yet current", "invalid"))
    if signature and "untrusted signing certificate" not in lowered:
        return _skew_hint(lowered, clock_skew(headers, now))
    for wanted, groups, hint in _HINTS:
        if (wanted is None or wanted == code) and all(any(word in lowered for word in group) for group in groups):
            return hint
    return None


def _skew_hint(lowered: str, skew: float | None) -> str:
    """Name the direction of a clock problem: ahead (signature "not yet current") or behind."""
    if skew is not None and abs(skew) > CLOCK_SKEW_LIMIT:
        direction = "ahead of" if skew > 0 else "behind"
        return f"the local clock is {abs(skew):.0f} s {direction} the service's; fix the system time (NTP)"
    if "not yet current" in lowered:
        return "the local clock is ahead of the service's; fix the system time (NTP)"
    if "expired" in lowered:
        return "the local clock is behind the service's (or the request was held up); fix the system time (NTP)"
    return "the private key may not match the certificate, or the system clock is wrong"


def clock_skew(headers: Any, now: datetime) -> float | None:
    """Local time minus the server's ``Date`` header, in seconds (positive: we are ahead)."""
    from email.utils import parsedate_to_datetime

    header = headers.get("Date") if headers is not None else None
    if not header:
        return None
    try:
        server = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if server.tzinfo is None:
        server = server.replace(tzinfo=timezone.utc)
    return (now - server).total_seconds()


def _retryable(status: int, code: str) -> bool:
    return status in RETRYABLE_STATUS or status == 429 or code in THROTTLING_CODES


def invocation_id() -> str:
    """A random UUIDv4 in lowercase hex, like the SDKs' ``amz-sdk-invocation-id``.

    Formatted by hand: importing ``uuid`` pulls in ``platform`` and costs ~3 ms of start-up.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def backoff_delay(attempt: int) -> float:
    """Full-jitter exponential backoff: uniform(0, min(cap, base * 2**attempt))."""
    import random  # only on a retry: ~1 ms of start-up that a successful call never needs

    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * (2**attempt)))


def check_session_name(name: str | None) -> None:
    """Role session names follow STS rules: 2-64 characters of ``[\\w+=,.@-]``."""
    import re

    if name is None or name == "":
        return
    if not re.fullmatch(r"[\w+=,.@-]{2,64}", name, flags=re.ASCII):
        raise ConfigError(
            f"invalid role session name {name!r}",
            hint="use 2-64 characters from letters, digits and +=,.@_-",
        )


def check_instance_properties(properties: dict[str, str]) -> None:
    """At most 50 entries; keys and values 1-200 characters (API InstanceProperty)."""
    if len(properties) > 50:
        raise ConfigError(f"{len(properties)} instance properties given; at most 50 are allowed")
    for key, value in properties.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ConfigError("instance property keys and values must be text")
        if not 1 <= len(key) <= 200 or not 1 <= len(value) <= 200:
            raise ConfigError(
                f"instance property {clean(key, 40)!r} has a key or value outside 1-200 characters",
                hint="shorten it",
            )
        # Sent as UTF-8 JSON: argv bytes that are not UTF-8 (surrogates) and control characters cannot be.
        if any(not char.isprintable() for char in key + value):
            raise ConfigError(
                f"instance property {clean(key, 40)!r} contains control characters or bytes that are not UTF-8",
                hint="use printable UTF-8 text",
            )
