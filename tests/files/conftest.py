"""Fixtures for the file backend: keys, encodings and a CA all made by the openssl CLI.

Everything is created at test time in temporary directories. Making the inputs with
``openssl`` (not with the library under test) is the point: rasign must read what real
users' tooling writes. Base keys and the CA are session-scoped because RSA-4096 keygen
is the slowest step; every derived encoding is a cheap ``openssl`` conversion.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.files.helpers import openssl

PASSWORD = "password"

KEY_SPECS = {
    "rsa2048": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "rsa4096": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"],
    "p256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "p384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    "p521": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
}

LEAF_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

CA_EXTENSIONS = """\
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "openssl: needs the openssl command-line tool")


@dataclass
class OpensslCa:
    """An openssl-made root CA and an intermediate CA under it."""

    directory: Path
    root_cert: Path
    root_key: Path
    inter_cert: Path
    inter_key: Path

    def issue(
        self, key: Path, out: Path, *, cn: str = "rasign file test", by_root: bool = False, days: int = 30
    ) -> Path:
        """Issue a v3 client certificate for ``key`` with ``openssl x509 -req``."""
        csr = out.with_suffix(".csr")
        openssl("req", "-new", "-key", key, "-subj", f"/O=rasign tests/CN={cn}", "-out", csr)
        ext = self.directory / "leaf.ext"
        ca_cert, ca_key = (self.root_cert, self.root_key) if by_root else (self.inter_cert, self.inter_key)
        openssl(
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca_cert,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-days",
            str(days),
            "-sha256",
            "-extfile",
            ext,
            "-out",
            out,
        )
        return out

    def full_chain(self, leaf: Path, out: Path) -> Path:
        """Leaf, then intermediate, then root: the usual ``fullchain.pem``."""
        out.write_bytes(leaf.read_bytes() + self.inter_cert.read_bytes() + self.root_cert.read_bytes())
        return out


@pytest.fixture(scope="session")
def openssl_ca(tmp_path_factory: pytest.TempPathFactory) -> OpensslCa:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command-line tool is not installed")
    directory = tmp_path_factory.mktemp("openssl-ca")
    (directory / "leaf.ext").write_text(LEAF_EXTENSIONS)
    (directory / "ca.ext").write_text(CA_EXTENSIONS)
    root_key, root_cert = directory / "root.key", directory / "root.pem"
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", root_key)
    openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        root_key,
        "-subj",
        "/O=rasign tests/CN=openssl root",
        "-days",
        "60",
        "-sha256",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        root_cert,
    )
    inter_key, inter_cert = directory / "inter.key", directory / "inter.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", inter_key)
    csr = directory / "inter.csr"
    openssl("req", "-new", "-key", inter_key, "-subj", "/O=rasign tests/CN=openssl intermediate", "-out", csr)
    openssl(
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        root_cert,
        "-CAkey",
        root_key,
        "-CAcreateserial",
        "-days",
        "60",
        "-sha256",
        "-extfile",
        directory / "ca.ext",
        "-out",
        inter_cert,
    )
    return OpensslCa(directory, root_cert, root_key, inter_cert, inter_key)


@dataclass
class BaseKey:
    """An openssl-generated key (PKCS#8 PEM) and its certificate from the openssl CA."""

    name: str
    key: Path
    cert: Path
    directory: Path

    @property
    def is_rsa(self) -> bool:
        return self.name.startswith("rsa")

    def derive(self, filename: str, *args: str) -> Path:
        """Write ``openssl ARGS -in key -out directory/filename`` and return the path."""
        out = self.directory / filename
        if not out.exists():
            openssl(*args, "-in", self.key, "-out", out)
        return out


def _genpkey_concurrently(specs: dict[str, list[str]], directory: Path) -> dict[str, Path]:
    """``openssl genpkey`` for every spec at once: RSA-4096 keygen then overlaps the others."""
    running = {
        name: subprocess.Popen(
            ["openssl", "genpkey", *spec, "-out", str(directory / f"{name}.pem")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for name, spec in specs.items()
    }
    failures = []
    for name, process in running.items():
        _, err = process.communicate(timeout=120)
        if process.returncode:
            failures.append(f"openssl genpkey {' '.join(specs[name])} failed: {err.decode(errors='replace')}")
    if failures:
        raise AssertionError("\n".join(failures))
    return {name: directory / f"{name}.pem" for name in specs}


@pytest.fixture(scope="session")
def base_keys(openssl_ca: OpensslCa, tmp_path_factory: pytest.TempPathFactory) -> dict[str, BaseKey]:
    directory = tmp_path_factory.mktemp("file-keys")
    keys = {}
    for name, key in _genpkey_concurrently(KEY_SPECS, directory).items():
        cert = openssl_ca.issue(key, directory / f"{name}-cert.pem", cn=f"rasign {name}")
        keys[name] = BaseKey(name, key, cert, directory)
    return keys


def encoding_of(base: BaseKey, encoding: str) -> Path:
    """The base key re-encoded by openssl as ``encoding`` (see ENCODINGS)."""
    tool = "rsa" if base.is_rsa else "ec"
    traditional = ["-traditional"] if base.is_rsa else []
    recipes = {
        "pkcs8-pem": lambda: base.key,
        "pkcs8-der": lambda: base.derive(f"{base.name}.p8.der", "pkcs8", "-topk8", "-nocrypt", "-outform", "DER"),
        "traditional-pem": lambda: base.derive(f"{base.name}.trad.pem", tool, *traditional),
        "traditional-der": lambda: base.derive(f"{base.name}.trad.der", tool, *traditional, "-outform", "DER"),
    }
    return recipes[encoding]()


ENCODINGS = ("pkcs8-pem", "pkcs8-der", "traditional-pem", "traditional-der")
"""PKCS#8 and PKCS#1/SEC1, each as PEM and DER."""
