"""Benchmark for issue 6: what does ``--cert-selector`` cost over naming the files?

Reports, in one run on this machine, each as a ratio against a baseline measured here:

1. opening a signer through a directory store of N identities (list, match, choose,
   open the chosen key) ÷ opening the same identity with ``--certificate``/``--private-key``
   through the file backend (the baseline), in process;
2. the same for ``--use-latest-expiring-certificate`` over N renewals of one subject;
3. cold ``rasign sign-string`` with a selector and store ÷ cold ``rasign sign-string`` with
   the files, each as a new process.

Run: ``.venv/bin/python bench/stores_bench.py [--identities N] [--runs N]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _timing import per_call, walls


def build(directory: Path, count: int) -> tuple[Path, Path, str]:
    """``count`` identities with distinct subjects plus ``count`` renewals of one subject."""
    from tests.support.pki import NOW, Pki, key_pem, new_key

    pki = Pki(directory=directory)
    store = directory / "store"
    store.mkdir()
    for index in range(count):
        key = new_key()
        (store / f"host{index}.key").write_bytes(key_pem(key))
        pki.issue(key.public_key(), store / f"host{index}.pem", cn=f"host{index}.example")
    for index in range(count):
        key = new_key()
        (store / f"renewal{index}.key").write_bytes(key_pem(key))
        pki.issue(
            key.public_key(),
            store / f"renewal{index}.pem",
            cn="fleet.example",
            not_before=NOW - dt.timedelta(days=index + 1),
            not_after=NOW + dt.timedelta(days=30 + index),
        )
    middle = count // 2
    return (
        store / f"host{middle}.pem",
        store / f"host{middle}.key",
        f"Key=x509Subject,Value=CN=host{middle}.example,O=rasign tests",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--identities", type=int, default=50)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    from rasign.backends.file import FileBackend
    from rasign.backends.store import StoreBackend
    from rasign.options import SignerOptions

    with tempfile.TemporaryDirectory() as temp:
        cert, key, selector = build(Path(temp), args.identities)
        store = str(cert.parent)

        def by_files() -> None:
            FileBackend.open(SignerOptions(certificate=str(cert), private_key=str(key))).close()

        def by_selector() -> None:
            StoreBackend.open(SignerOptions(cert_selector=selector, cert_store=store)).close()

        def by_latest() -> None:
            StoreBackend.open(
                SignerOptions(
                    cert_selector="Key=x509Subject,Value=CN=fleet.example,O=rasign tests",
                    cert_store=store,
                    use_latest_expiring_certificate=True,
                )
            ).close()

        base = per_call(by_files, args.runs)
        select = per_call(by_selector, args.runs)
        latest = per_call(by_latest, args.runs)

        python = [sys.executable, "-m", "rasign", "sign-string", "--format", "text"]
        cold = {
            "files": python + ["--certificate", str(cert), "--private-key", str(key)],
            "selector": python + ["--cert-selector", selector, "--cert-store", store],
        }
        cold_walls = walls(cold, max(3, args.runs // 3))
        cold_files, cold_selector = cold_walls["files"], cold_walls["selector"]

    total = 2 * args.identities
    print(f"store of {total} identities ({args.identities} distinct subjects + {args.identities} renewals of one)")
    print(f"baseline  file backend open            {base * 1000:8.2f} ms")
    print(f"selector  exact subject, store open     {select * 1000:8.2f} ms   ratio {select / base:5.1f}x")
    print(
        f"selector  latest of {args.identities} renewals         {latest * 1000:8.2f} ms   ratio {latest / base:5.1f}x"
    )
    print(
        f"cold sign-string: files {cold_files * 1000:.0f} ms, selector {cold_selector * 1000:.0f} ms, ratio {cold_selector / cold_files:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
