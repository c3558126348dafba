"""Fixtures for named identities: a private identities file pointing at the session emulator."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def identity_table(name: str, cert: Path, key: Path, emulator, **extra: object) -> str:
    """One [identity.NAME] table in TOML, keys named exactly like the flags."""
    lines = [
        f"[identity.{name}]",
        f'certificate = "{cert}"',
        f'private-key = "{key}"',
        f'trust-anchor-arn = "{emulator.trust_anchor_arn}"',
        f'profile-arn = "{emulator.profile_arn}"',
        f'role-arn = "{emulator.role_arn}"',
        f'endpoint = "{emulator.endpoint}"',
        f'ca-bundle = "{emulator.ca_bundle}"',
    ]
    for key_name, value in extra.items():
        rendered = f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else value
        lines.append(f"{key_name.replace('_', '-')} = {rendered}")
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


@pytest.fixture(autouse=True)
def private_cache_dir(tmp_path, monkeypatch):
    """In-process loads keep their compiled copies in the test's directory, never in the real cache."""
    directory = tmp_path / "rasign-cache"
    monkeypatch.setenv("RASIGN_CACHE_DIR", str(directory))
    return directory


@pytest.fixture
def software_identity(pki):
    return pki.software_identity("ec", stem="identities")
