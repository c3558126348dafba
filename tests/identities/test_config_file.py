"""The identities file: found where documented, flags override it, every mistake is one line with file and line."""

from __future__ import annotations

import json
import os

import pytest

from rasign.errors import ConfigError
from rasign.identities import config_path, load_identities, render_session_name
from tests.conftest import run_rasign
from tests.identities.conftest import identity_table, write_private

pytestmark = pytest.mark.network


def test_config_path_order(tmp_path):
    assert config_path({"RASIGN_CONFIG": "/x/c.toml"}) == "/x/c.toml"
    assert config_path({"XDG_CONFIG_HOME": "/xdg"}, "linux") == "/xdg/rasign/config.toml"
    assert config_path({"APPDATA": "/appdata"}, "win32") == os.path.join("/appdata", "rasign", "config.toml")
    assert config_path({}, "darwin").endswith(os.path.join("Library", "Application Support", "rasign", "config.toml"))


def test_credential_process_with_identity_equals_flags(software_identity, emulator, tmp_path):
    cert, key = software_identity
    config = write_private(tmp_path / "config.toml", identity_table("prod", cert, key, emulator))
    result = run_rasign("credential-process", "--identity", "prod", env={"RASIGN_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    issued = {creds.access_key_id: creds for creds in emulator.issued}
    assert issued[document["AccessKeyId"]].role_arn == emulator.role_arn


def test_explicit_flag_overrides_the_file(software_identity, emulator, tmp_path):
    cert, key = software_identity
    config = write_private(tmp_path / "config.toml", identity_table("prod", cert, key, emulator, session_duration=1800))
    result = run_rasign(
        "credential-process",
        "--identity",
        "prod",
        "--config",
        str(config),
        "--role-arn",
        "arn:aws:iam::123456789012:role/not-in-profile",
    )
    assert result.returncode != 0
    assert "not-in-profile" in result.stderr  # the flag, not the file's role-arn, reached the service


def test_relative_paths_are_relative_to_the_file(software_identity, emulator, tmp_path):
    cert, key = software_identity
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "c.pem").write_bytes(cert.read_bytes())
    (folder / "k.pem").write_bytes(key.read_bytes())
    text = identity_table("rel", folder / "c.pem", folder / "k.pem", emulator)
    text = text.replace(str(folder / "c.pem"), "c.pem").replace(str(folder / "k.pem"), "k.pem")
    config = write_private(folder / "config.toml", text)
    assert load_identities(str(config))["rel"].values["certificate"] == str(folder / "c.pem")
    result = run_rasign("credential-process", "--identity", "rel", "--config", str(config), env={"HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr


def _error_of(run, config, *args: str):
    """The one stderr line of a config mistake; ``run`` is ``rasign_in_process`` (exit code and message only)."""
    result = run(*(args or ("credential-process", "--identity", "prod")), "--config", str(config))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == ConfigError.exit_code, result.stderr
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_bad_toml_names_file_and_line(tmp_path, rasign_in_process):
    config = write_private(tmp_path / "c.toml", '[identity.prod]\ncertificate = "a.pem"\nrole-arn = arn:aws\n')
    line = _error_of(rasign_in_process, config)
    assert f"{config}:3:" in line and "not valid TOML" in line


def test_unknown_key_names_file_line_and_suggests(tmp_path, rasign_in_process):
    config = write_private(tmp_path / "c.toml", '# comment\n[identity.prod]\ncertifcate = "a.pem"\n')
    line = _error_of(rasign_in_process, config)
    assert f"{config}:3:" in line and "'certifcate'" in line and "did you mean 'certificate'" in line


def test_wrong_type_names_file_line_and_key(tmp_path, rasign_in_process):
    config = write_private(
        tmp_path / "c.toml", '[identity.prod]\nrole-arn = "arn:aws:iam::1:role/r"\nsession-duration = "3600"\n'
    )
    line = _error_of(rasign_in_process, config)
    assert f"{config}:3:" in line and "'session-duration'" in line and "whole number" in line


@pytest.mark.parametrize(
    "line, expected",
    [
        ("session-duration = 60", "must be 900-43200"),
        ('role-arn = "arn:aws:iam::1:user/bob"', "is not an IAM role ARN"),
        # The commands refuse an unknown partition (arns.parse_arn), so the file does too, naming the line.
        ('role-arn = "arn:aws-typo:iam::1:role/r"', "is not an IAM role ARN"),
        ('trust-anchor-arn = "arn:aws:rolesanywhere:us-east-1:1:profile/p"', "is not a Roles Anywhere trust anchor"),
        ('endpoint = "rolesanywhere.example"', "https://"),
    ],
)
def test_bad_value_names_file_line_and_key(tmp_path, line, expected, rasign_in_process):
    config = write_private(tmp_path / "c.toml", f'[identity.prod]\nregion = "us-east-1"\n{line}\n')
    message = _error_of(rasign_in_process, config)
    assert f"{config}:3:" in message and repr(line.split(" =")[0]) in message and expected in message


def test_secret_in_a_readable_file_is_refused(tmp_path, rasign_in_process):
    config = tmp_path / "c.toml"
    config.write_text('[identity.prod]\nprivate-key = "k.pem"\n\npkcs8-password = "hunter2"\n')
    os.chmod(config, 0o644)
    line = _error_of(rasign_in_process, config)
    assert f"{config}:4:" in line and "'pkcs8-password'" in line and "chmod 600" in line
    assert "hunter2" not in line
    os.chmod(config, 0o600)
    assert load_identities(str(config))["prod"].values["pkcs8-password"] == "hunter2"


def test_pin_value_in_a_readable_file_is_refused(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[identity.hsm]\nprivate-key = "pkcs11:token=t;object=k?pin-value=1234"\n')
    os.chmod(config, 0o640)
    with pytest.raises(ConfigError) as caught:
        load_identities(str(config))
    assert f"{config}:2:" in str(caught.value) and "1234" not in str(caught.value)


def test_group_writable_file_is_refused(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[identity.prod]\nregion = "us-east-1"\n')
    os.chmod(config, 0o664)
    with pytest.raises(ConfigError, match="writable by group or others"):
        load_identities(str(config))


def test_unknown_identity_lists_the_defined_ones(tmp_path, rasign_in_process):
    config = write_private(tmp_path / "c.toml", '[identity.alpha]\nregion = "us-east-1"\n[identity.beta]\n')
    line = _error_of(rasign_in_process, config, "credential-process", "--identity", "gamma")
    assert "no identity 'gamma'" in line and "alpha, beta" in line


def test_chain_step_errors_have_lines(tmp_path):
    config = write_private(
        tmp_path / "c.toml",
        '[identity.prod]\nregion = "us-east-1"\n\n'
        '[[identity.prod.chain]]\nrole-arn = "arn:aws:iam::1:role/a"\n'
        'external-ld = "x"\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_identities(str(config))
    assert f"{config}:6:" in str(caught.value) and "external-id" in str(caught.value)


@pytest.mark.parametrize("arn", ["arn:aws:sts::1:role/a", "arn:aws-typo:iam::1:role/a", "role/a"])
def test_chain_role_is_checked_like_role_arn(tmp_path, arn):
    """A chain step's role goes through the same ARN rule as ``role-arn`` (one parser, arns.py)."""
    config = write_private(
        tmp_path / "c.toml", f'[identity.prod]\nregion = "us-east-1"\n\n[[identity.prod.chain]]\nrole-arn = "{arn}"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_identities(str(config))
    assert f"{config}:5:" in str(caught.value) and "is not an IAM role ARN" in str(caught.value)


def test_session_name_template(tmp_path, software_identity):
    import socket

    cert, _ = software_identity
    rendered = render_session_name("{hostname}-{identity}-{cn}", "prod", str(cert))
    assert rendered.startswith(socket.gethostname().split(".")[0][:20].replace(" ", "-")[:5])
    assert "-prod-" in rendered and len(rendered) <= 64
    assert " " not in rendered


def test_identities_command_lists_and_json(software_identity, emulator, tmp_path):
    cert, key = software_identity
    text = identity_table("prod", cert, key, emulator, description="production app")
    text += '\n[[identity.prod.chain]]\nrole-arn = "arn:aws:iam::210987654321:role/deploy"\n'
    text += identity_table("dev", cert, key, emulator)
    config = write_private(tmp_path / "config.toml", text)
    listed = run_rasign("identities", env={"RASIGN_CONFIG": str(config)})
    assert listed.returncode == 0, listed.stderr
    assert "prod" in listed.stdout and "-> arn:aws:iam::210987654321:role/deploy" in listed.stdout
    assert "production app" in listed.stdout and "dev" in listed.stdout
    as_json = json.loads(run_rasign("identities", "--json", "--config", str(config)).stdout)
    names = [row["name"] for row in as_json["identities"]]
    assert names == ["prod", "dev"]
    assert as_json["identities"][0]["chain"] == ["arn:aws:iam::210987654321:role/deploy"]


def test_identity_in_the_environment_does_not_break_commands_without_identities(tmp_path):
    result = run_rasign("version", env={"RASIGN_IDENTITY": "prod", "RASIGN_CONFIG": str(tmp_path / "absent.toml")})
    assert result.returncode == 0, result.stderr


def test_identity_from_the_environment(software_identity, emulator, tmp_path):
    cert, key = software_identity
    config = write_private(tmp_path / "config.toml", identity_table("prod", cert, key, emulator))
    result = run_rasign("credential-process", env={"RASIGN_IDENTITY": "prod", "RASIGN_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Version"] == 1
