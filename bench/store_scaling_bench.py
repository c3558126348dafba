"""Benchmark for issue 11: does a certificate store list and choose in linear time?

For stores of N identities (N = 10, 100, 1,000, 10,000 by default), as PEM pairs and as
PKCS#12 files, times in one process:

- listing: what ``read-certificate-data --cert-store DIR`` computes (every identity with a
  selector that picks it alone);
- choosing: ``--cert-selector`` for one subject (match, choose, open that key),

each divided by a single-file ``read-certificate-data`` measured in the same run (the
baseline), and the growth from one size to the next divided by the growth in N: 1.0 is
linear, larger is worse.

Run: ``.venv/bin/python bench/store_scaling_bench.py [--sizes 10,100,1000,10000] [--runs 3]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _timing import per_call  # noqa: E402


def build(directory: Path, count: int, kind: str) -> str:
    """``count`` identities sharing one key (key generation is not what is measured)."""
    from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12

    from tests.support.pki import Pki, cert_pem, key_pem, new_key

    pki = Pki(directory=directory)
    store = directory / f"store-{kind}-{count}"
    store.mkdir()
    key = new_key()
    key_bytes = key_pem(key)
    for index in range(count):
        cert = pki.issue(key.public_key(), cn=f"host{index}.example")
        if kind == "pem":
            (store / f"host{index}.key").write_bytes(key_bytes)
            (store / f"host{index}.pem").write_bytes(cert_pem(cert))
        else:
            blob = pkcs12.serialize_key_and_certificates(f"host{index}".encode(), key, cert, None, NoEncryption())
            (store / f"host{index}.p12").write_bytes(blob)
    return str(store)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    from rasign.backends.store import StoreBackend
    from rasign.options import SignerOptions
    from rasign.x509names import _name_view, names_of
    from tests.support.pki import Pki, key_pem, new_key

    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        single_key = new_key()
        single = root / "single.pem"
        (root / "single.key").write_bytes(key_pem(single_key))
        Pki(directory=root).issue(single_key.public_key(), single, cn="single.example")

        def baseline() -> None:
            from rasign.certs import load_certificates
            from rasign.x509names import go_dn_string, subject_der

            cert = load_certificates(str(single))[0]
            go_dn_string(subject_der(cert))

        base = per_call(baseline, max(args.runs * 10, 30))
        print(f"baseline: single-file read-certificate-data work {base * 1000:.3f} ms")
        print(
            f"{'store':>6} {'N':>6} {'build s':>8} {'list ms':>10} {'list/base':>10} {'growth':>7} {'choose ms':>10} {'choose/base':>11} {'growth':>7}"
        )
        for kind in ("pem", "p12"):
            previous: tuple[int, float, float] | None = None
            for size in sizes:
                started = time.perf_counter()
                store = build(root, size, kind)
                built = time.perf_counter() - started
                target = f"Key=x509Subject,Value=CN=host{size // 2}.example,O=rasign tests"
                runs = max(1, args.runs if size <= 1000 else 1)

                def listing(store: str = store) -> None:
                    names_of.cache_clear()  # every run decodes its names afresh, as a new process would
                    _name_view.cache_clear()
                    StoreBackend.list_identities(SignerOptions(cert_selector="", cert_store=store))

                def choosing(store: str = store, target: str = target) -> None:
                    names_of.cache_clear()
                    _name_view.cache_clear()
                    StoreBackend.open(SignerOptions(cert_selector=target, cert_store=store)).close()

                listed, chosen = per_call(listing, runs), per_call(choosing, runs)
                growth_list = growth_choose = ""
                if previous is not None:
                    scale = size / previous[0]
                    growth_list = f"{(listed / previous[1]) / scale:7.2f}"
                    growth_choose = f"{(chosen / previous[2]) / scale:7.2f}"
                print(
                    f"{kind:>6} {size:>6} {built:8.1f} {listed * 1000:10.1f} {listed / base:10.0f} {growth_list:>7}"
                    f" {chosen * 1000:10.1f} {chosen / base:11.0f} {growth_choose:>7}"
                )
                previous = (size, listed, chosen)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
