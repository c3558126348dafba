"""The PKCS#11 suite on every module users really have (issue 14): module x case.

Each case runs ``python -m rasign`` against the emulator (which verifies every signature
for real) with the module's own library; a case a module cannot do by design (no EC on
opencryptoki's soft token, no CKA_ALWAYS_AUTHENTICATE in NSS) is not generated for it --
see ``Module.objects`` -- and the module's refusal of a context login is tested as such.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import emulator_args
from tests.p11modules import modules as m
from tests.support.openssl import assert_openssl_verifies

pytestmark = [pytest.mark.network, pytest.mark.p11modules]


def assert_credentials(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["Version"] == 1 and out["AccessKeyId"] and out["SessionToken"]
    assert "ERROR" not in done.stderr and "CRITICAL" not in done.stderr, done.stderr


def creds(module, emulator, *args, **kwargs) -> subprocess.CompletedProcess:
    return module.rasign("credential-process", *args, *emulator_args(emulator), "--no-cache", **kwargs)


def spied(log, name: str) -> list[str]:
    lines = log.read_text().splitlines()
    return [line for line in lines if line.split(": ")[-1].strip() == name]


def test_certificate_and_key_on_the_token(module, emulator, tmp_path):
    log = tmp_path / "spy.log"
    assert_credentials(creds(module, emulator, "--certificate", module.uri("rsa"), spy_log=log))
    assert len(spied(log, "C_OpenSession")) == 1  # one card scan per run on ykcs11/OpenSC


def test_file_certificate_and_token_key(module, emulator):
    assert_credentials(
        creds(module, emulator, "--certificate", str(module.certs["rsa"]), "--private-key", module.uri("rsa"))
    )


def test_ec_key_with_chain_on_the_token(module, emulator):
    if "ec" not in module.objects:
        # Not a gap of rasign's: the module offers no EC mechanism at all (checked, not assumed).
        listed = subprocess.run(
            [*module.prefix, "pkcs11-tool", "--module", module.library, "--list-mechanisms"],
            capture_output=True,
            text=True,
            env=dict(os.environ, **module.env),
            check=False,
        )
        assert listed.returncode == 0 and "RSA-PKCS" in listed.stdout, listed.stderr
        assert "ECDSA" not in listed.stdout and "EC-KEY-PAIR-GEN" not in listed.stdout
        return
    # The emulator trusts only the root: the intermediate must come from the token.
    assert_credentials(creds(module, emulator, "--certificate", module.uri("ec")))


def test_sign_string_verifies_with_openssl(module, tmp_path):
    from cryptography import x509

    from rasign.commands.sign_string import test_message

    role = "ec" if "ec" in module.objects else "rsa"
    done = module.rasign("sign-string", "--certificate", module.uri(role), "--format", "text")
    assert done.returncode == 0, done.stderr
    public = x509.load_pem_x509_certificate(module.certs[role].read_bytes()).public_key()
    assert_openssl_verifies(public, bytes.fromhex(done.stdout.strip()), test_message(public), tmp_path)


def test_listing_with_read_certificate_data(module):
    done = module.rasign(
        "read-certificate-data",
        "--certificate",
        f"pkcs11:token={module.token.replace(' ', '%20')}?pin-value={module.pin}",
    )
    assert done.returncode == 0, done.stderr
    for role, label in module.objects.items():
        assert f"object={label};" in done.stdout, (role, done.stdout)
    # Fixed-size CK_UTF8CHAR fields come without NUL or blank padding (ids may hold any byte).
    assert not re.search(r"(token|manufacturer|model|serial)=[^;]*(%00|%20;)", done.stdout), done.stdout


def test_doctor_finds_the_token_as_credential_process_does(module, tmp_path):
    """doctor asks the backend: the same module, C_Initialize arguments (NSS) and token filters; no login."""
    log = tmp_path / "spy.log"
    done = module.rasign("doctor", "--offline", "--json", "--certificate", module.uri("rsa"), spy_log=log)
    checks = {check["name"]: check for check in json.loads(done.stdout)["checks"]}
    for name in ("pkcs11 module", "pkcs11 token", "pin"):
        assert checks[name]["status"] == "pass", (name, checks[name], done.stderr)
    assert "pin-value in the URI" in checks["pin"]["detail"] and module.pin not in done.stdout
    assert spied(log, "C_Login") == []  # nothing was tried against the token


def test_wrong_pin_is_one_login_attempt(module, emulator, tmp_path):
    log = tmp_path / "spy.log"
    done = creds(module, emulator, "--certificate", module.uri("rsa", wrong_pin="99999999"), spy_log=log)
    assert done.returncode == 6, done.stderr
    assert "CKR_PIN_INCORRECT" in done.stderr and "99999999" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr  # rasign's one line, no module noise
    assert len(spied(log, "C_Login")) == 1
    assert_credentials(creds(module, emulator, "--certificate", module.uri("rsa")))  # the retry counter survived


def test_always_authenticate_with_reuse_pin(module, emulator, tmp_path):
    if "rsa-aa" not in module.objects:
        pytest.skip(f"{module.name} cannot store CKA_ALWAYS_AUTHENTICATE keys")
    log = tmp_path / "spy.log"
    done = creds(module, emulator, "--certificate", module.uri("rsa-aa"), "--reuse-pin", spy_log=log)
    logins = spied(log, "C_Login")
    if module.context_login:
        assert_credentials(done)
        return
    # opencryptoki: CKR_USER_TYPE_INVALID for C_Login(CKU_CONTEXT_SPECIFIC), named as such,
    # never "the key does not match", and the key is tried once (one context login).
    assert done.returncode == 8, done.stderr
    assert "refuses the context-specific login" in done.stderr and "CKR_USER_TYPE_INVALID" in done.stderr
    assert "does not match" not in done.stderr
    assert len(logins) == 2, logins  # the user login, then exactly one context login


RECOVERY = """
import json, sys
from rasign.backends.pkcs11 import Pkcs11Backend
from rasign.options import SignerOptions
from rasign.signer import verify_signature

lib, init, first_uri, second_uri = sys.argv[1:5]
opts = lambda uri: SignerOptions(certificate=uri, pkcs11_lib=lib, pkcs11_init_args=init or None, interactive=False)
first, second = Pkcs11Backend.open(opts(first_uri)), Pkcs11Backend.open(opts(second_uri))
message = b"before"
ok = [verify_signature(second.certificate.public_key(), second.sign(message), message)]
first.close()  # C_Logout is token-wide: the second signer's session loses its login
message = b"after"
ok.append(verify_signature(second.certificate.public_key(), second.sign(message), message))
print(json.dumps({"ok": ok, "recoveries": second.recoveries}))
second.close()
"""


def test_session_recovery_after_another_signer_logs_out(module):
    init = module.args[module.args.index("--pkcs11-init-args") + 1] if "--pkcs11-init-args" in module.args else ""
    second = "ec" if "ec" in module.objects else "rsa"
    done = module.python("-c", RECOVERY, module.library, init, module.uri("rsa"), module.uri(second))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] == [True, True]
    assert result["recoveries"] <= 1  # modules that keep the login per session need none; none loops


def _in_private_p11kit_modules(module, config_dir, *args: str) -> subprocess.CompletedProcess:
    """Run rasign with ``config_dir`` bind-mounted over p11-kit's module directory (root only)."""
    import shutil
    import sys

    from tests.conftest import clean_env

    if shutil.which("unshare") is None or not os.path.isdir("/usr/share/p11-kit/modules"):
        pytest.skip("needs unshare (util-linux) and p11-kit's /usr/share/p11-kit/modules")
    script = f'mount --bind "{config_dir}" /usr/share/p11-kit/modules && exec "$@"'
    return subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
            "sh",
            sys.executable,
            "-m",
            "rasign",
            *args,
        ],
        env=clean_env(module.env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("how", ["module-name", "p11-kit-proxy"])
def test_nss_softokn_through_a_p11kit_module_file_with_x_init_reserved(nss_softokn_module, emulator, tmp_path, how):
    """The alternative to --pkcs11-init-args: a p11-kit module file carries the arguments."""

    if os.geteuid() != 0:
        pytest.skip("bind-mounting a private p11-kit module directory needs root")
    module = nss_softokn_module
    init = module.args[module.args.index("--pkcs11-init-args") + 1]
    config = tmp_path / "modules"
    config.mkdir()
    (config / "nss-test.module").write_text(f"module: {module.library}\nx-init-reserved: {init}\n")
    uri = module.uri("rsa")
    if how == "module-name":
        uri = uri.replace("?", "?module-name=nss-test&")
    done = _in_private_p11kit_modules(
        module, config, "credential-process", "--certificate", uri, *emulator_args(emulator), "--no-cache"
    )
    assert_credentials(done)


def test_p11kit_proxy_default_keeps_other_modules_noise_out(softhsm_module, tmp_path):
    """tpm2-pkcs11 registered with p11-kit but no TPM: its tcti/GLib lines stay off stderr."""

    if os.geteuid() != 0:
        pytest.skip("bind-mounting a private p11-kit module directory needs root")
    tpm2 = m.LIBDIR / "pkcs11" / "libtpm2_pkcs11.so"
    if not tpm2.exists():
        pytest.skip("tpm2-pkcs11 not installed (apt-get install libtpm2-pkcs11-1; scripts/bootstrap.sh does)")
    config = tmp_path / "modules"
    config.mkdir()
    (config / "tpm2.module").write_text(f"module: {tpm2}\n")
    (config / "softhsm.module").write_text(f"module: {softhsm_module.library}\n")
    env_module = softhsm_module
    done = _in_private_p11kit_modules(
        env_module,
        config,
        "read-certificate-data",
        "--certificate",
        env_module.uri("rsa"),
    )
    assert done.returncode == 0, done.stderr
    assert "object=rsa;" in done.stdout
    assert done.stderr == "", done.stderr


NO_SIGN_KEY = """
import sys, pkcs11
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pkcs11 import Attribute, KeyType, ObjectClass

library, token, pin, key_pem = sys.argv[1:5]
numbers = load_pem_private_key(open(key_pem, "rb").read(), None).private_numbers()
big = lambda n: n.to_bytes((n.bit_length() + 7) // 8, "big")
lib = pkcs11.lib(library)
with lib.get_token(token_label=token).open(rw=True, user_pin=pin) as session:
    session.create_object({
        Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.KEY_TYPE: KeyType.RSA, Attribute.TOKEN: True,
        Attribute.PRIVATE: True, Attribute.SENSITIVE: True, Attribute.SIGN: False, Attribute.DECRYPT: True,
        Attribute.ID: bytes([0x20]), Attribute.LABEL: "nosign",
        Attribute.MODULUS: big(numbers.public_numbers.n), Attribute.PUBLIC_EXPONENT: big(numbers.public_numbers.e),
        Attribute.PRIVATE_EXPONENT: big(numbers.d), Attribute.PRIME_1: big(numbers.p), Attribute.PRIME_2: big(numbers.q),
        Attribute.EXPONENT_1: big(numbers.dmp1), Attribute.EXPONENT_2: big(numbers.dmq1),
        Attribute.COEFFICIENT: big(numbers.iqmp),
    })
"""


def test_key_the_token_will_not_sign_with_is_tried_once_and_named(softhsm_module, pki, tmp_path):
    """Found by CKA_ID and again by label, the same key is proven once; the token's refusal
    (CKR_KEY_FUNCTION_NOT_PERMITTED) is reported, not "the key does not match" (issue 14)."""
    module = softhsm_module
    key = m.new_key("rsa")
    m.write_identity(pki, tmp_path, "softhsm", "nosign", key, key.public_key(), None)
    base = ["pkcs11-tool", "--module", module.library, "--token-label", module.token, "--login", "--pin", module.pin]
    env = dict(os.environ, **module.env)
    # pkcs11-tool always sets CKA_SIGN on keys it writes: this key is written with CKA_SIGN=false.
    made = module.python("-c", NO_SIGN_KEY, module.library, module.token, module.pin, str(tmp_path / "nosign.key.pem"))
    assert made.returncode == 0, made.stderr
    m.run(
        *base,
        "--write-object",
        str(tmp_path / "nosign.crt.der"),
        "--type",
        "cert",
        "--id",
        "20",
        "--label",
        "nosign",
        env=env,
    )
    log = tmp_path / "spy.log"
    uri = module.uri("rsa").replace("object=rsa", "object=nosign")
    done = module.rasign("sign-string", "--certificate", uri, spy_log=log)
    assert done.returncode == 8, done.stderr
    assert "CKR_KEY_FUNCTION_NOT_PERMITTED" in done.stderr and "does not match" not in done.stderr
    assert len(spied(log, "C_SignInit")) == 1


CACKEY = Path("/usr/lib/pkcs11/libcackey.so")


def test_cackey_token_label_is_cut_at_its_nul():
    """CACKey's built-in token is labelled 'US Government Certificates\\0CACKe' (NUL, then junk):
    the label is cut at the NUL, so token= matches and printed URIs carry no %00 (issue 14)."""
    from tests.conftest import run_rasign

    if not CACKEY.exists():
        pytest.skip("CACKey not installed: apt-get install cackey (scripts/bootstrap.sh does)")
    listed = run_rasign(
        "read-certificate-data",
        "--pkcs11-lib",
        str(CACKEY),
        "--certificate",
        "pkcs11:token=US%20Government%20Certificates",
    )
    assert listed.returncode == 0, listed.stderr
    uris = re.findall(r"^URI: (\S+)$", listed.stdout, re.M)
    assert uris and all(u.startswith("pkcs11:token=US%20Government%20Certificates;") for u in uris), uris[:3]
    assert not any("%00" in u.split(";object=")[0] for u in uris)
    again = run_rasign("read-certificate-data", "--pkcs11-lib", str(CACKEY), "--certificate", uris[0])
    assert again.returncode == 0, again.stderr
    assert re.findall(r"^URI: (\S+)$", again.stdout, re.M) == [uris[0]]  # a printed URI names exactly its object


def test_nss_softokn_init_args_in_the_uri_query(nss_softokn_module, emulator):
    """``x-init-reserved=`` (percent-encoded) in the URI instead of --pkcs11-init-args."""
    from urllib.parse import quote

    module = nss_softokn_module
    init = module.args[module.args.index("--pkcs11-init-args") + 1]
    uri = module.uri("rsa") + "&x-init-reserved=" + quote(init, safe="")
    done = module.python(
        "-m",
        "rasign",
        "credential-process",
        "--pkcs11-lib",
        module.library,
        "--certificate",
        uri,
        *emulator_args(emulator),
        "--no-cache",
    )
    assert_credentials(done)


def test_nss_softokn_without_init_args_says_how_to_pass_them(nss_softokn_module):
    module = nss_softokn_module
    done = module.python(
        "-m", "rasign", "read-certificate-data", "--pkcs11-lib", module.library, "--certificate", module.uri("rsa")
    )
    assert done.returncode == 7, done.stderr
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert "CKR_ARGUMENTS_BAD" in line and "--pkcs11-init-args" in line and "x-init-reserved" in line
