"""The indexed unique-selector search gives exactly what checking every certificate gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rasign.backends.store.selector import CertSelector, SelectorIndex, _inline_safe
from rasign.x509names import names_of
from tests.fuzz.budget import examples

from .conftest import make_cert, make_key

KEY = make_key()
SUBJECTS = ["CN=web,O=Acme", "CN=WEB,O=acme", "O=Acme,CN=web", "CN=db,O=Acme", "CN=web", "CN=web\\, inc,O=Acme"]
ISSUERS = ["CN=root A", "CN=root B", "CN=ROOT a"]


def brute_force(cert, population) -> str:
    """The pre-index algorithm: every try checked against every certificate."""
    own = names_of(cert)
    for attempt in (
        CertSelector(subject=own.subject),
        CertSelector(subject=own.subject, issuer=own.issuer),
        CertSelector(subject=own.subject, serial=own.serial),
        CertSelector(subject=own.subject, issuer=own.issuer, serial=own.serial),
    ):
        if not _inline_safe(attempt):
            continue
        hits = [other for other in population if attempt.matches(other)]
        if hits and all(names_of(other).der == own.der for other in hits):
            return attempt.to_text()
    return CertSelector(thumbprint=own.sha256).to_text()


_CACHE: dict[tuple[str, str, int], object] = {}


def cert_for(subject: str, issuer: str, serial: int):
    key = (subject, issuer, serial)
    if key not in _CACHE:
        _CACHE[key] = make_cert(subject, KEY, issuer=issuer, issuer_key=KEY, serial=serial)[0]
    return _CACHE[key]


@examples(60)
@given(
    st.lists(st.tuples(st.sampled_from(SUBJECTS), st.sampled_from(ISSUERS), st.integers(1, 4)), min_size=1, max_size=10)
)
def test_index_agrees_with_brute_force(specs):
    population = [cert_for(*spec) for spec in specs]
    index = SelectorIndex(population)
    for cert in population:
        assert index.unique(cert) == brute_force(cert, population)


def test_suggested_selectors_pick_their_certificate_alone():
    population = [cert_for(s, i, n) for s in SUBJECTS for i in ISSUERS[:2] for n in (1, 2)]
    index = SelectorIndex(population)
    for cert in population:
        from rasign.backends.store.selector import parse_selector

        chosen = parse_selector(index.unique(cert))
        hits = {names_of(other).der for other in population if chosen.matches(other)}
        assert hits == {names_of(cert).der}
