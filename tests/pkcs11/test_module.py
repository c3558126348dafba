"""Module choice: --pkcs11-lib, then module-path/module-name in the URI, then p11-kit-proxy."""

from __future__ import annotations

import os

import pytest

from rasign.backends.pkcs11 import Pkcs11Backend
from rasign.backends.pkcs11 import module as modules
from rasign.errors import BackendUnavailable


def test_explicit_library_wins_and_never_falls_back():
    paths, explicit = modules.candidates("/opt/x/lib.so", "/usr/lib/other.so", "other")
    assert paths == ["/opt/x/lib.so"] and explicit


def test_uri_module_path_file_then_directory_with_name():
    assert modules.candidates(None, "/usr/lib/vendor.so", None) == (["/usr/lib/vendor.so"], True)
    paths, _ = modules.candidates(None, "/usr/lib", "vendor")
    assert paths == ["/usr/lib/vendor.so", "/usr/lib/libvendor.so", "/usr/lib/vendor"]


def test_default_is_p11_kit_proxy_by_name_then_known_paths():
    paths, explicit = modules.candidates(None, None, None)
    assert not explicit
    assert paths[0].startswith("p11-kit-proxy") and any(p.startswith("/") for p in paths[1:])


def test_module_name_resolves_through_p11_kit_registrations():
    if not os.path.exists("/usr/share/p11-kit/modules/softhsm2.module"):
        pytest.skip("SoftHSM is not registered with p11-kit here")
    paths, _ = modules.candidates(None, None, "softhsm2")
    assert paths[0].endswith("libsofthsm2.so")


def test_error_lists_every_path_tried_and_modules_present(monkeypatch):
    monkeypatch.setattr(modules, "P11_KIT_PROXY_NAMES", ("p11-kit-proxy-missing.so",))
    monkeypatch.setattr(
        modules, "P11_KIT_PROXY_PATHS", ("/nonexistent/a/p11-kit-proxy.so", "/nonexistent/b/p11-kit-proxy.so")
    )
    with pytest.raises(BackendUnavailable) as caught:
        modules.load()
    line = caught.value.one_line()
    for tried in (
        "p11-kit-proxy-missing.so:",
        "/nonexistent/a/p11-kit-proxy.so: no such file",
        "/nonexistent/b/p11-kit-proxy.so: no such file",
    ):
        assert tried in line
    assert "--pkcs11-lib" in line and caught.value.exit_code == 7


def test_a_file_that_is_not_a_module_is_reported(tmp_path):
    bogus = tmp_path / "not-a-module.so"
    bogus.write_bytes(b"definitely not ELF")
    with pytest.raises(BackendUnavailable) as caught:
        modules.load(str(bogus))
    assert str(bogus) in caught.value.one_line()


@pytest.mark.softhsm
def test_module_path_and_name_in_the_uri_load_softhsm(hsm, options):
    directory, name = os.path.split(hsm.module)
    for query in (f"module-path={hsm.module}", f"module-path={directory}&module-name={name[3:-3]}"):
        opts = options(certificate=f"pkcs11:token=rasign-a;object=ec-p256?pin-value=1234&{query}", pkcs11_lib=None)
        with Pkcs11Backend.open(opts) as signer:
            assert signer.certificate is not None


@pytest.mark.softhsm
def test_token_and_slot_filters(hsm, options):
    serial = hsm.manifest["tokens"]["rasign-b"]["serial"]
    with Pkcs11Backend.open(
        options(
            certificate=f"pkcs11:serial={serial};model=SoftHSM%20v2;manufacturer=SoftHSM%20project;object=ec-p256?pin-value=5678"
        )
    ) as signer:
        assert "OU=rasign-b" in signer.certificate.subject.rfc4514_string()
        slot_id = signer._token.slot.slot_id
    with Pkcs11Backend.open(
        options(certificate=f"pkcs11:slot-id={slot_id};object=ec-p256;library-manufacturer=SoftHSM?pin-value=5678")
    ) as signer:
        assert "OU=rasign-b" in signer.certificate.subject.rfc4514_string()
    with pytest.raises(Exception, match="no token matches"):
        Pkcs11Backend.open(options(certificate="pkcs11:library-version=99.1;object=ec-p256?pin-value=1234"))


def test_without_python_pkcs11_the_error_names_the_extra(tmp_path):
    """An interpreter where ``import pkcs11`` fails: one line naming ``rasign[pkcs11]``."""
    import subprocess
    import sys

    from tests.conftest import clean_env

    script = (
        "import sys; sys.modules['pkcs11'] = None\n"  # makes `import pkcs11` raise ImportError
        "from rasign.cli.main import main\n"
        "sys.exit(main(['sign-string', '--certificate', 'pkcs11:token=x?pin-value=1', '--format', 'text']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=clean_env(), timeout=60, check=False
    )
    assert done.returncode == 7, done.stderr
    assert "pip install 'rasign[pkcs11]'" in done.stderr and "Traceback" not in done.stderr
