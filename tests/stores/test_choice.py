"""The choice policy among several matches, run on the fake store.

The Windows and macOS stores hand their certificates to exactly this code
(``backends.store.base.select_entry``), so these tests are what verifies their selection
logic on Linux; only the native enumeration and signing calls are left unexercised here.
"""

from __future__ import annotations

import datetime as dt

import pytest

from rasign.backends.store.base import select_entry
from rasign.backends.store.selector import (
    ERR_MULTIPLE,
    ERR_NO_MATCH,
    ERR_NO_MATCH_WINDOWS,
    CertSelector,
    choose,
    parse_selector,
)
from rasign.errors import CertificateError, KeyLoadError
from rasign.signer import verify_signature
from tests.support.fake_store import FakeStore

from .conftest import NOW, make_cert


def rotated_store(flavour: str = "windows") -> tuple[FakeStore, dict[str, object]]:
    """A store after two renewals: an expired, a current and a newer overlapping certificate."""
    store = FakeStore(flavour)
    certs = {}
    for label, start, days, serial in (
        ("expired", NOW - dt.timedelta(days=60), 30, 1),
        ("current", NOW - dt.timedelta(days=20), 30, 2),
        ("renewed", NOW - dt.timedelta(days=1), 90, 3),
    ):
        cert, key = make_cert("CN=web.example,O=Acme", serial=serial, not_before=start, days=days, issuer="CN=Acme CA")
        store.add(cert, key, where=f"{store.description} #{serial}")
        certs[label] = cert
    future, future_key = make_cert(
        "CN=web.example,O=Acme", serial=4, not_before=NOW + dt.timedelta(days=5), issuer="CN=Acme CA"
    )
    store.add(future, future_key)
    certs["future"] = future
    other, other_key = make_cert("CN=db.example,O=Acme", serial=5, issuer="CN=Acme CA")
    store.add(other, other_key)
    certs["other"] = other
    return store, certs


def test_single_match_is_chosen_and_signs() -> None:
    store, certs = rotated_store()
    entry = select_entry(store, parse_selector("Key=x509Subject,Value=CN=db.example,O=Acme"), use_latest=False)
    assert entry.certificate == certs["other"]
    signer = store.open_signer(entry)
    signature = signer.sign(b"message")
    assert verify_signature(entry.certificate.public_key(), signature, b"message")


def test_expired_and_not_yet_valid_are_ignored_then_ambiguity_lists_candidates() -> None:
    store, certs = rotated_store()
    with pytest.raises(KeyLoadError) as caught:
        select_entry(store, parse_selector("Key=x509Subject,Value=CN=web.example,O=Acme"), use_latest=False)
    text = caught.value.one_line()
    assert caught.value.message.startswith(ERR_MULTIPLE)
    assert "2 valid certificates match in CurrentUser\\MY" in text
    assert "serial 2" in text and "serial 3" in text
    assert "serial 1," not in text and "serial 4," not in text  # expired / not yet valid
    assert "--use-latest-expiring-certificate" in text
    # Every suggested selector really picks that candidate alone.
    for suggestion in text.split("--cert-selector '")[1:]:
        selector = parse_selector(suggestion.split("'")[0])
        entry = select_entry(store, selector, use_latest=False)
        assert entry.certificate in (certs["current"], certs["renewed"])


def test_use_latest_picks_latest_not_after() -> None:
    store, certs = rotated_store()
    entry = select_entry(store, parse_selector("Key=x509Subject,Value=CN=web.example,O=Acme"), use_latest=True)
    assert entry.certificate == certs["renewed"]


def test_use_latest_never_picks_a_future_certificate() -> None:
    # "future" expires last of all, but is not valid yet.
    store, certs = rotated_store()
    entry = select_entry(store, parse_selector("Key=x509SubjectContains,Value=web"), use_latest=True)
    assert entry.certificate == certs["renewed"]


def test_no_match_uses_the_stores_go_text() -> None:
    store, _ = rotated_store("windows")
    with pytest.raises(KeyLoadError) as caught:
        select_entry(store, parse_selector("Key=x509Subject,Value=CN=nothing"), use_latest=False)
    assert caught.value.message == ERR_NO_MATCH_WINDOWS
    store, _ = rotated_store("macos")
    with pytest.raises(KeyLoadError) as caught:
        select_entry(store, parse_selector("Key=x509Subject,Value=CN=nothing"), use_latest=False)
    assert caught.value.message == ERR_NO_MATCH


def test_only_expired_matches_is_a_certificate_error() -> None:
    store, _certs = rotated_store()
    serial_one = parse_selector("Key=x509Serial,Value=01")
    with pytest.raises(CertificateError) as caught:
        select_entry(store, serial_one, use_latest=True)
    assert "expired or not yet valid" in caught.value.one_line()


def test_certificates_without_private_key_are_not_identities() -> None:
    store = FakeStore()
    cert, _ = make_cert("CN=no key")
    store.add(cert, None)
    with pytest.raises(KeyLoadError):
        select_entry(store, CertSelector(), use_latest=True)


def test_same_certificate_in_two_places_counts_once() -> None:
    store = FakeStore()
    cert, key = make_cert("CN=twice")
    store.add(cert, key, where="first")
    store.add(cert, key, where="second")
    assert select_entry(store, CertSelector(), use_latest=False).where == "first"


def test_ties_on_not_after_prefer_latest_not_before_then_first() -> None:
    end = NOW + dt.timedelta(days=10)
    a, _ = make_cert("CN=t", serial=1, not_before=NOW - dt.timedelta(days=5), not_after=end)
    b, _ = make_cert("CN=t", serial=2, not_before=NOW - dt.timedelta(days=1), not_after=end)
    c, _ = make_cert("CN=t", serial=3, not_before=NOW - dt.timedelta(days=1), not_after=end)

    class Entry:
        def __init__(self, certificate, where):
            self.certificate, self.where = certificate, where

    chosen = choose([Entry(a, "a"), Entry(b, "b"), Entry(c, "c")], use_latest=True)
    assert chosen.where == "b"


def test_empty_selector_with_one_identity_picks_it() -> None:
    store = FakeStore("macos")
    cert, key = make_cert("CN=only")
    store.add(cert, key)
    assert select_entry(store, parse_selector(""), use_latest=False).certificate == cert


def test_unique_selectors_fall_back_to_serial_then_thumbprint() -> None:
    from rasign.backends.store.selector import unique_selector

    same_subject_issuer = [make_cert("CN=same", serial=n, issuer="CN=CA")[0] for n in (10, 11)]
    text = unique_selector(same_subject_issuer[0], same_subject_issuer)
    assert text == "Key=x509Subject,Value=CN=same Key=x509Serial,Value=A"
    identical = [same_subject_issuer[0], same_subject_issuer[0]]
    assert unique_selector(identical[0], identical).startswith("Key=x509Subject")  # same cert twice is still "one"
    awkward, _ = make_cert("CN=has Key= inside")
    assert unique_selector(awkward, [awkward]).startswith("Key=x509Thumbprint,Value=")
