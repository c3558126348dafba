"""A token set up the way an admin would, not by our provisioning script.

Keys are generated *on the token* by ``pkcs11-tool --keypairgen`` (no software copy ever
exists), certificates carry labels different from their keys' and are linked only by
CKA_ID, one certificate is a private object (visible only after login), and the token
lives in its own SoftHSM configuration. rasign must find everything from one URI.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import emulator_args, run_rasign

pytestmark = [pytest.mark.softhsm, pytest.mark.network]

PIN = "4321"
PRIVATE_CERT = """
import sys, pkcs11
from cryptography import x509
from pkcs11 import Attribute, CertificateType, ObjectClass
module, pin, path, key_id, label = sys.argv[1:]
der = open(path, "rb").read()
token = pkcs11.lib(module).get_token(token_label="Admin Token")
with token.open(user_pin=pin, rw=True) as session:
    session.create_object({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                           Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.ID: bytes.fromhex(key_id),
                           Attribute.LABEL: label, Attribute.VALUE: der,
                           Attribute.SUBJECT: x509.load_der_x509_certificate(der).subject.public_bytes()})
"""


@pytest.fixture(scope="module")
def indie(hsm, pki, tmp_path_factory):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    root = tmp_path_factory.mktemp("indie-token")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf)}

    def run(*args: str) -> str:
        import os

        done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **env}, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("softhsm2-util", "--init-token", "--free", "--label", "Admin Token", "--so-pin", "87654321", "--pin", PIN)
    tool = ("pkcs11-tool", "--module", hsm.module, "--token-label", "Admin Token", "--login", "--pin", PIN)
    made = {}
    for key_id, key_type, private_cert in (("a1b2", "EC:prime256v1", False), ("c3d4", "rsa:2048", True)):
        run(
            *tool,
            "--keypairgen",
            "--key-type",
            key_type,
            "--id",
            key_id,
            "--label",
            f"Signing key {key_id}",
            "--usage-sign",
        )
        pub_der = root / f"{key_id}.pub.der"
        run(*tool, "--read-object", "--type", "pubkey", "--id", key_id, "--output-file", str(pub_der))
        public_key = serialization.load_der_public_key(pub_der.read_bytes())
        cert_path = root / f"{key_id}.pem"
        cert = pki.issue(public_key, cert_path, cn=f"admin {key_id}")
        cert_der = root / f"{key_id}.crt.der"
        cert_der.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        if private_cert:
            # pkcs11-tool 0.23 ignores --private for certificates; write this one with
            # python-pkcs11 in a child process (its own SOFTHSM2_CONF) as CKA_PRIVATE.
            run(sys.executable, "-c", PRIVATE_CERT, hsm.module, PIN, str(cert_der), key_id, f"Certificate {key_id}")
        else:
            run(
                *tool,
                "--write-object",
                str(cert_der),
                "--type",
                "cert",
                "--id",
                key_id,
                "--label",
                f"Certificate {key_id}",
            )
        made[key_id] = x509.load_pem_x509_certificate(cert_path.read_bytes())
    # A leaf issued by an intermediate CA whose certificate sits on the token too: the
    # emulator, like Roles Anywhere, only trusts the root, so the chain must come from the token.
    intermediate = pki.intermediate("admin token intermediate")
    run(
        *tool,
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--id",
        "e5f6",
        "--label",
        "Signing key e5f6",
        "--usage-sign",
    )
    pub_der = root / "e5f6.pub.der"
    run(*tool, "--read-object", "--type", "pubkey", "--id", "e5f6", "--output-file", str(pub_der))
    leaf = pki.issue(serialization.load_der_public_key(pub_der.read_bytes()), cn="admin e5f6", issuer=intermediate)
    for der, key_id, label in (
        (leaf.public_bytes(serialization.Encoding.DER), "e5f6", "Certificate e5f6"),
        (intermediate.cert.public_bytes(serialization.Encoding.DER), "ca01", "Intermediate CA"),
    ):
        path = root / f"{label}.der"
        path.write_bytes(der)
        run(*tool, "--write-object", str(path), "--type", "cert", "--id", key_id, "--label", label)
    made["e5f6"] = leaf
    made["intermediate"] = intermediate.cert
    return env, made


def credential_process(env, emulator, hsm, *args):
    return run_rasign(
        "credential-process", "--pkcs11-lib", hsm.module, *args, *emulator_args(emulator), "--no-cache", env=env
    )


@pytest.mark.parametrize("key_id", ["a1b2", "c3d4"])
def test_certificate_uri_finds_on_token_generated_key_by_id(indie, emulator, hsm, key_id):
    env, _ = indie
    done = credential_process(
        env, emulator, hsm, "--certificate", f"pkcs11:token=Admin%20Token;object=Certificate%20{key_id}?pin-value={PIN}"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["AccessKeyId"]


@pytest.mark.parametrize("key_id", ["a1b2", "c3d4"])
def test_key_uri_alone_finds_the_certificate_by_id(indie, emulator, hsm, key_id):
    env, _ = indie
    done = credential_process(
        env,
        emulator,
        hsm,
        "--private-key",
        f"pkcs11:token=Admin%20Token;object=Signing%20key%20{key_id}?pin-value={PIN}",
    )
    assert done.returncode == 0, done.stderr


def test_listing_shows_the_private_certificate_after_login(indie, hsm):
    env, made = indie
    done = run_rasign(
        "read-certificate-data",
        "--pkcs11-lib",
        hsm.module,
        "--certificate",
        f"pkcs11:token=Admin%20Token?pin-value={PIN}",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    # With a PIN for the one matching token, the listing logs in: the private certificate shows.
    assert "object=Certificate%20a1b2;id=%A1%B2;type=cert" in done.stdout
    assert "object=Certificate%20c3d4;id=%C3%D4;type=cert" in done.stdout
    done = run_rasign(
        "read-certificate-data", "--pkcs11-lib", hsm.module, "--certificate", "pkcs11:token=Admin%20Token", env=env
    )
    assert done.returncode == 0, done.stderr
    assert (
        "Certificate%20a1b2" in done.stdout and "Certificate%20c3d4" not in done.stdout
    )  # no PIN: public objects only
    done = run_rasign(
        "read-certificate-data",
        "--pkcs11-lib",
        hsm.module,
        "--certificate",
        f"pkcs11:token=Admin%20Token;id=%C3%D4?pin-value={PIN}",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "object=Certificate%20c3d4;id=%C3%D4;type=cert" in done.stdout
    assert f"{made['c3d4'].serial_number:X}" in done.stdout


def test_intermediate_on_the_token_is_sent_as_the_chain(indie, emulator, hsm):
    env, _ = indie
    done = credential_process(
        env, emulator, hsm, "--certificate", f"pkcs11:token=Admin%20Token;object=Certificate%20e5f6?pin-value={PIN}"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["AccessKeyId"]


def test_chain_is_real_issuers_only_leaf_and_root_excluded(indie, pki):
    from rasign.backends.pkcs11.search import issuer_chain

    _, made = indie
    pool = [made["a1b2"], made["e5f6"], made["intermediate"], pki.root.cert]
    assert issuer_chain(made["e5f6"], pool) == [made["intermediate"]]
    assert issuer_chain(made["a1b2"], pool) == []  # issued by the root itself: nothing to send
