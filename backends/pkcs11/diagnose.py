"""What ``rasign doctor`` says about a PKCS#11 set-up, found exactly as :func:`resolve.open_signer` finds it.

The same module choice (``--pkcs11-lib``, the URI's ``module-path``/``module-name``, then
p11-kit-proxy), the same ``C_Initialize`` arguments (``--pkcs11-init-args``, a p11-kit
file's ``x-init-reserved``), the same token filters and the same PIN source order. Nothing
logs in: a PIN source is read to see that it holds something, never tried on the token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rasign.backend import Finding
from rasign.errors import RasignError

if TYPE_CHECKING:
    from rasign.backends.pkcs11.uri import Pkcs11Uri
    from rasign.options import SignerOptions

PASS, WARN, FAIL = "pass", "warn", "fail"


def diagnose(options: SignerOptions) -> list[Finding]:
    """Module, token, PIN source: each a :class:`Finding`; the first failure ends the list."""
    from rasign.backends.pkcs11.resolve import input_uris, load_module

    try:
        cert_uri, key_uri = input_uris(options)
        loaded = load_module(options, cert_uri, key_uri)
    except RasignError as err:
        return [Finding("pkcs11 module", FAIL, err.message, err.hint() or "")]
    findings = [Finding("pkcs11 module", PASS, f"loaded {loaded.describe()}")]
    uri = key_uri or cert_uri
    if uri is None:
        return findings
    token = _token(loaded.lib, uri)
    findings.append(token)
    if token.status == PASS:
        findings.append(_pin_source(options, uri))
    return findings


def _token(lib: Any, uri: Pkcs11Uri) -> Finding:
    from rasign.backends.pkcs11.search import matching_tokens

    try:
        tokens = matching_tokens(lib, uri)
    except Exception as err:  # noqa: BLE001 - a module may fail C_GetSlotList for an absent reader
        return Finding("pkcs11 token", FAIL, f"listing tokens failed ({type(err).__name__})", "check the reader")
    if not tokens:
        return Finding(
            "pkcs11 token",
            FAIL,
            f"no token matches {uri.format()}",  # format() leaves pin-value out
            "insert the token, or fix token= in the URI (rasign read-certificate-data lists what is there)",
        )
    return Finding("pkcs11 token", PASS, f"{len(tokens)} token(s) match: {tokens[0].label}")


def _pin_source(options: SignerOptions, uri: Pkcs11Uri) -> Finding:
    from rasign.backends.pkcs11 import pins

    try:
        source = pins.user_pin_source(uri.pin_value, uri.pin_source, options)
        if source is None:
            return Finding(
                "pin",
                WARN,
                "no PIN source configured: the PIN will be asked (terminal, or RASIGN_PINENTRY)",
                "give --pkcs11-pin-file or --pkcs11-pin-env for unattended use",
            )
        source.read()  # that it holds a PIN; it is never sent to the token here
    except RasignError as err:
        return Finding("pin", FAIL, err.message, err.hint() or "")
    return Finding("pin", PASS, f"PIN from {source.description} readable; not tried against the token")
