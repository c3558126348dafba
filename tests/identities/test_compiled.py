"""The compiled copy of the identities file: used while the file is unchanged, never for secrets, never if planted."""

from __future__ import annotations

import os
import subprocess
import sys

from rasign.identities import COMPILED_SUFFIX, load_identities
from tests.conftest import clean_env
from tests.identities.conftest import write_private

TABLE = '[identity.prod]\nrole-arn = "arn:aws:iam::123456789012:role/{role}"\nregion = "us-east-1"\n'
PROBE = (
    "import sys\n"
    "from rasign.identities import load_identities\n"
    "print(load_identities(sys.argv[1])['prod'].values['role-arn'], 'tomllib' in sys.modules)\n"
)


def _probe(config, cache_dir) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(config)],
        env=clean_env({"RASIGN_CACHE_DIR": str(cache_dir)}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_unchanged_file_skips_the_toml_parser_and_an_edit_is_seen(tmp_path, private_cache_dir):
    config = write_private(tmp_path / "c.toml", TABLE.format(role="first"))
    assert _probe(config, private_cache_dir) == "arn:aws:iam::123456789012:role/first True"
    assert _probe(config, private_cache_dir) == "arn:aws:iam::123456789012:role/first False"
    config.write_text(TABLE.format(role="second"))
    assert _probe(config, private_cache_dir) == "arn:aws:iam::123456789012:role/second True"
    copies = [name for name in os.listdir(private_cache_dir) if name.endswith(COMPILED_SUFFIX)]
    assert len(copies) == 1  # the copy of the old content was removed


def test_a_file_with_an_inline_secret_is_never_copied(tmp_path, private_cache_dir):
    config = write_private(tmp_path / "c.toml", TABLE.format(role="r") + 'pkcs8-password = "hunter2"\n')
    load_identities(str(config))
    listed = os.listdir(private_cache_dir) if private_cache_dir.exists() else []
    assert not any(name.endswith(COMPILED_SUFFIX) for name in listed)


def test_a_copy_in_a_directory_others_can_write_is_ignored(tmp_path, private_cache_dir):
    config = write_private(tmp_path / "c.toml", TABLE.format(role="real"))
    load_identities(str(config))
    (copy,) = [private_cache_dir / name for name in os.listdir(private_cache_dir) if name.endswith(COMPILED_SUFFIX)]
    copy.write_text(copy.read_text().replace("role/real", "role/planted"))
    os.chmod(private_cache_dir, 0o777)
    try:
        assert load_identities(str(config))["prod"].values["role-arn"].endswith("role/real")
    finally:
        os.chmod(private_cache_dir, 0o700)
    os.chmod(copy, 0o644)
    assert load_identities(str(config))["prod"].values["role-arn"].endswith("role/real")
