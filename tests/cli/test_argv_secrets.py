"""A secret on the command line is accepted, warned about once, and never echoed."""

from __future__ import annotations

import pytest

from rasign.cli.main import build_parser, main

PASSWORD = "s3cret-Pa55"


@pytest.fixture
def encrypted_identity(pki):
    return pki.encrypted_identity(PASSWORD, stem="argv-secrets", cn="argv secrets")


def test_pkcs8_password_in_argv_warns_once(capsys, monkeypatch, encrypted_identity):
    monkeypatch.delenv("RASIGN_NO_SECRET_WARNING", raising=False)
    cert, key = encrypted_identity
    code = main(
        [
            "sign-string",
            "--certificate",
            str(cert),
            "--private-key",
            str(key),
            "--pkcs8-password",
            PASSWORD,
            "--format",
            "text",
        ],
        prog="rasign",
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert bytes.fromhex(out)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rasign: warning: --pkcs8-password on the command line can be read by other local users")
    assert "RASIGN_PKCS8_PASSWORD" in lines[0] and PASSWORD not in err


def test_environment_instead_gives_no_warning(capsys, monkeypatch, encrypted_identity):
    monkeypatch.delenv("RASIGN_NO_SECRET_WARNING", raising=False)
    monkeypatch.setenv("RASIGN_PKCS8_PASSWORD", PASSWORD)
    cert, key = encrypted_identity
    code = main(
        ["sign-string", "--certificate", str(cert), "--private-key", str(key), "--format", "text"], prog="rasign"
    )
    out, err = capsys.readouterr()
    assert code == 0 and err == ""


def test_warning_can_be_silenced(capsys, monkeypatch, encrypted_identity):
    monkeypatch.setenv("RASIGN_NO_SECRET_WARNING", "1")
    cert, key = encrypted_identity
    main(
        ["sign-string", "--certificate", str(cert), "--private-key", str(key), "--pkcs8-password", PASSWORD],
        prog="rasign",
    )
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("argv", "named", "instead"),
    [
        (["--tpm-key-password", "k3y"], "--tpm-key-password", "RASIGN_TPM_KEY_PASSWORD"),
        (["--tpm-parent-password", "p4r"], "--tpm-parent-password", "RASIGN_TPM_PARENT_PASSWORD"),
        (["--certificate", "pkcs11:token=a?pin-value=1234"], "pin-value= in --certificate", "pin-source=file:"),
        (
            ["--private-key", "pkcs11:token=a;object=k?module-path=/m.so&PIN-VALUE=1234"],
            "pin-value= in --private-key",
            "--pkcs11-pin-file",
        ),
        (["--pkcs11-pin", "1234"], "--pkcs11-pin", "--pkcs11-pin-env"),
    ],
)
def test_each_secret_is_named_with_its_alternative(argv, named, instead):
    from rasign.cli.argv_secrets import warning_line

    args = build_parser(only="credential-process").parse_known_args(["credential-process", *argv])[0]
    line = warning_line(args)
    assert line is not None and line.startswith(named) and instead in line
    assert not any(secret in line for secret in ("k3y", "p4r", "1234"))


def test_several_secrets_make_one_line():
    from rasign.cli.argv_secrets import warning_line

    args = build_parser(only="serve").parse_known_args(
        ["serve", "--pkcs8-password", "a", "--certificate", "pkcs11:token=t?pin-value=9"]
    )[0]
    line = warning_line(args)
    assert line is not None and "\n" not in line
    assert line.startswith("--pkcs8-password, pin-value= in --certificate on the command line")


def test_no_secret_no_warning():
    from rasign.cli.argv_secrets import warning_line

    args = build_parser(only="credential-process").parse_known_args(
        ["credential-process", "--certificate", "pkcs11:token=a?pin-source=file:/run/pin", "--pkcs11-pin-file", "/p"]
    )[0]
    assert warning_line(args) is None
