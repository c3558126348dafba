#!/usr/bin/env python3
"""Provision private SoftHSM2 tokens for rasign's PKCS#11 tests and demos.

Why a script and not fixtures written with python-pkcs11: the backend must be proven
against objects that a tool we did not write put on the token. Keys and certificates
are made by the ``openssl`` CLI and imported by OpenSC's ``pkcs11-tool``; rasign code is
not involved, so a bug in rasign's object handling cannot hide itself.

Everything lives under ``--dir``: its own ``softhsm2.conf`` and token directory (the
system token directory is never touched), certificate and public-key PEMs, and
``manifest.json`` / ``env`` describing what was made. Software copies of private keys
are deleted once imported.

Tokens made (PINs are test values, printed in the manifest on purpose):

``rasign-a`` (user PIN 1234, SO PIN 12345678)
    ``01 rsa-2048``                 RSA-2048, certificate, plus a YubiKey-style
                                    attestation certificate sharing CKA_ID 01
    ``02 ec-p256``                  P-256, certificate
    ``03 rsa-2048-always-auth``     RSA-2048 with CKA_ALWAYS_AUTHENTICATE (PIV 9c style)
    ``04 ec-p256-always-auth``      P-256 with CKA_ALWAYS_AUTHENTICATE
    ``05 shared``                   P-256 with two certificates (``shared-a``, ``shared-b``)
                                    on the same CKA_ID: a URI by id matches both
``rasign-b`` (user PIN 5678)
    ``01 rsa-2048-b``               another RSA-2048 key (for mismatch tests)
    ``02 ec-p256``                  P-256 whose label repeats one on ``rasign-a``

Usage::

    python3 softhsm/provision.py --dir /tmp/hsm [--ca-cert ca.pem --ca-key ca-key.pem]
    . /tmp/hsm/env      # exports SOFTHSM2_CONF, RASIGN_TEST_PKCS11_MODULE, ...

Only the standard library is used, so any python3 can run it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SO_PIN = "12345678"
DEFAULT_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)

# (token label, user PIN, [(hex id, label, key spec, always-auth, certificate labels)])
LAYOUT = [
    (
        "rasign-a",
        "1234",
        [
            ("01", "rsa-2048", "rsa", False, ["rsa-2048"]),
            ("02", "ec-p256", "ec", False, ["ec-p256"]),
            ("03", "rsa-2048-always-auth", "rsa", True, ["rsa-2048-always-auth"]),
            ("04", "ec-p256-always-auth", "ec", True, ["ec-p256-always-auth"]),
            ("05", "shared", "ec", False, ["shared-a", "shared-b"]),
        ],
    ),
    (
        "rasign-b",
        "5678",
        [
            ("01", "rsa-2048-b", "rsa", False, ["rsa-2048-b"]),
            ("02", "ec-p256", "ec", False, ["ec-p256"]),
        ],
    ),
]
ATTESTATION_LABEL = "X.509 Certificate for PIV Attestation 9a"
"""Label ykcs11 gives the attestation certificate of PIV slot 9a (same CKA_ID as 9a's)."""

LEAF_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""
CA_EXTENSIONS = """\
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""
# Yubico's attestation certificates carry extensions under 1.3.6.1.4.1.41482.3
# (firmware version, serial, PIN/touch policy); rasign recognises them by these.
ATTESTATION_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
1.3.6.1.4.1.41482.3.3 = DER:04:03:05:04:03
1.3.6.1.4.1.41482.3.8 = DER:04:02:01:01
"""


def run(*args: str, env: dict[str, str] | None = None) -> str:
    """Run a tool and return stdout; on failure show its stderr, which names the problem."""
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"provision: {args[0]} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def find_module(explicit: str | None) -> str:
    """The SoftHSM2 module: --module, $SOFTHSM2_MODULE, else the usual install paths."""
    for candidate in (explicit, os.environ.get("SOFTHSM2_MODULE"), *DEFAULT_MODULES):
        if candidate and os.path.exists(candidate):
            return candidate
    sys.exit("provision: libsofthsm2.so not found; install softhsm2 (apt-get install softhsm2) or pass --module")


class Provisioner:
    """Creates the tokens; one instance per target directory."""

    def __init__(self, root: Path, module: str) -> None:
        self.root = root
        self.module = module
        self.work = root / "work"  # software keys live here only until imported
        self.certs = root / "certs"
        self.pubs = root / "pub"
        for path in (self.work, self.certs, self.pubs, root / "tokens"):
            path.mkdir(parents=True, exist_ok=True)
        self.conf = root / "softhsm2.conf"
        self.conf.write_text(
            f"directories.tokendir = {root / 'tokens'}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n"
        )
        self.env = dict(os.environ, SOFTHSM2_CONF=str(self.conf))
        self.serial_counter = 0x1000

    # -- certificate authority -------------------------------------------------------
    def make_ca(self, name: str, cn: str) -> tuple[Path, Path]:
        key = self.root / f"{name}-key.pem"
        cert = self.root / f"{name}.pem"
        ext = self.work / f"{name}.ext"
        ext.write_text(CA_EXTENSIONS)
        run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key))
        run(
            "openssl",
            "req",
            "-x509",
            "-new",
            "-key",
            str(key),
            "-subj",
            f"/O=rasign tests/CN={cn}",
            "-days",
            "30",
            "-sha256",
            "-extensions",
            "v3_ca_rasign",
            "-config",
            str(self._req_config(ext)),
            "-out",
            str(cert),
        )
        return cert, key

    def _req_config(self, ext: Path) -> Path:
        config = ext.with_suffix(".cnf")
        config.write_text("[req]\ndistinguished_name = dn\n[dn]\n[v3_ca_rasign]\n" + ext.read_text())
        return config

    def issue(self, key: Path, subject: str, ca: tuple[Path, Path], out: Path, extensions: str) -> None:
        csr = self.work / (out.stem + ".csr")
        ext = self.work / (out.stem + ".ext")
        ext.write_text(extensions)
        run(
            "openssl",
            "req",
            "-new",
            "-key",
            str(key),
            "-subj",
            subject,
            "-out",
            str(csr),
            "-config",
            str(self._req_config(ext)),
        )
        self.serial_counter += 1
        run(
            "openssl",
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca[0]),
            "-CAkey",
            str(ca[1]),
            "-set_serial",
            str(self.serial_counter),
            "-days",
            "30",
            "-sha256",
            "-extfile",
            str(ext),
            "-out",
            str(out),
        )

    # -- tokens ---------------------------------------------------------------------
    def init_token(self, label: str, pin: str) -> str:
        run("softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", pin, env=self.env)
        shown = run("softhsm2-util", "--show-slots", env=self.env)
        # Each slot block lists "Label: <label>" after "Serial number: <serial>".
        for block in shown.split("Slot ")[1:]:
            label_match = re.search(r"^\s*Label:\s*(.*?)\s*$", block, re.MULTILINE)
            serial_match = re.search(r"^\s*Serial number:\s*(\S+)", block, re.MULTILINE)
            if label_match and serial_match and label_match.group(1) == label:
                return serial_match.group(1)
        sys.exit(f"provision: token {label} not visible after initialisation")

    def tool(self, token: str, pin: str, *args: str) -> None:
        run(
            "pkcs11-tool", "--module", self.module, "--token-label", token, "--login", "--pin", pin, *args, env=self.env
        )

    def make_key(self, spec: str, stem: str) -> tuple[Path, Path, Path]:
        """Key pair in software: PEM (for the CSR), PKCS#8 DER (to import), SPKI DER."""
        pem = self.work / f"{stem}.pem"
        if spec == "rsa":
            run("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(pem))
        else:
            run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(pem))
        der = self.work / f"{stem}.der"
        spki = self.work / f"{stem}.pub.der"
        run("openssl", "pkey", "-in", str(pem), "-outform", "DER", "-out", str(der))
        run("openssl", "pkey", "-in", str(pem), "-pubout", "-outform", "DER", "-out", str(spki))
        run("openssl", "pkey", "-in", str(pem), "-pubout", "-out", str(self.pubs / f"{stem}.pem"))
        return pem, der, spki

    def provision(self, ca: tuple[Path, Path]) -> dict[str, object]:
        attest_ca = self.make_ca("attestation-ca", "Yubico PIV Attestation (rasign test imitation)")
        tokens: dict[str, object] = {}
        for token, pin, objects in LAYOUT:
            serial = self.init_token(token, pin)
            entries: dict[str, object] = {}
            for hex_id, label, spec, always_auth, cert_labels in objects:
                stem = f"{token}-{label}"
                pem, der, spki = self.make_key(spec, stem)
                flags = ["--always-auth"] if always_auth else []
                self.tool(
                    token,
                    pin,
                    "--write-object",
                    str(der),
                    "--type",
                    "privkey",
                    "--id",
                    hex_id,
                    "--label",
                    label,
                    "--usage-sign",
                    *flags,
                )
                self.tool(token, pin, "--write-object", str(spki), "--type", "pubkey", "--id", hex_id, "--label", label)
                certs: dict[str, str] = {}
                for cert_label in cert_labels:
                    cert_pem = self.certs / f"{token}-{cert_label}.pem"
                    self.issue(pem, f"/O=rasign tests/OU={token}/CN={cert_label}", ca, cert_pem, LEAF_EXTENSIONS)
                    cert_der = self.work / f"{token}-{cert_label}.crt.der"
                    run("openssl", "x509", "-in", str(cert_pem), "-outform", "DER", "-out", str(cert_der))
                    self.tool(
                        token,
                        pin,
                        "--write-object",
                        str(cert_der),
                        "--type",
                        "cert",
                        "--id",
                        hex_id,
                        "--label",
                        cert_label,
                    )
                    certs[cert_label] = str(cert_pem)
                entry: dict[str, object] = {
                    "id": hex_id,
                    "label": label,
                    "key_type": "RSA" if spec == "rsa" else "EC",
                    "always_authenticate": always_auth,
                    "public_key": str(self.pubs / f"{stem}.pem"),
                    "certificates": certs,
                }
                if token == "rasign-a" and hex_id == "01":
                    att_pem = self.certs / f"{token}-attestation-9a.pem"
                    self.issue(pem, "/CN=YubiKey PIV Attestation 9a", attest_ca, att_pem, ATTESTATION_EXTENSIONS)
                    att_der = self.work / f"{token}-attestation-9a.crt.der"
                    run("openssl", "x509", "-in", str(att_pem), "-outform", "DER", "-out", str(att_der))
                    self.tool(
                        token,
                        pin,
                        "--write-object",
                        str(att_der),
                        "--type",
                        "cert",
                        "--id",
                        hex_id,
                        "--label",
                        ATTESTATION_LABEL,
                    )
                    entry["attestation_certificate"] = str(att_pem)
                entries[label] = entry
            tokens[token] = {"label": token, "serial": serial, "pin": pin, "so_pin": SO_PIN, "objects": entries}
        shutil.rmtree(self.work)  # the software copies of the private keys go away
        return {
            "module": self.module,
            "softhsm2_conf": str(self.conf),
            "ca_cert": str(ca[0]),
            "attestation_ca_cert": str(attest_ca[0]),
            "p11kit_module_config": str(Path(__file__).resolve().parent / "p11-kit" / "rasign-softhsm.module"),
            "tokens": tokens,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", required=True, help="private directory for tokens, certificates and manifest")
    parser.add_argument("--ca-cert", help="PEM CA certificate that issues the leaf certificates")
    parser.add_argument("--ca-key", help="PEM private key of --ca-cert")
    parser.add_argument("--module", help="path of libsofthsm2.so (default: search the usual places)")
    parser.add_argument("--force", action="store_true", help="wipe --dir first if it holds an earlier run")
    args = parser.parse_args(argv)
    if bool(args.ca_cert) != bool(args.ca_key):
        parser.error("--ca-cert and --ca-key go together")
    for tool in ("openssl", "softhsm2-util", "pkcs11-tool"):
        if shutil.which(tool) is None:
            sys.exit(f"provision: {tool} not found; install openssl, softhsm2 and opensc")
    root = Path(args.dir).resolve()
    if (root / "tokens").exists():
        if not args.force:
            sys.exit(f"provision: {root} already holds tokens; pass --force to start again")
        shutil.rmtree(root / "tokens")
    root.mkdir(parents=True, exist_ok=True)
    prov = Provisioner(root, find_module(args.module))
    ca = (Path(args.ca_cert), Path(args.ca_key)) if args.ca_cert else prov.make_ca("ca", "rasign test root CA")
    manifest = prov.provision(ca)
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (root / "env").write_text(
        f"export SOFTHSM2_CONF='{prov.conf}'\n"
        f"export RASIGN_TEST_PKCS11_MODULE='{prov.module}'\n"
        f"export RASIGN_TEST_PKCS11_MANIFEST='{root / 'manifest.json'}'\n"
    )
    print(root / "manifest.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
