"""Check a rasign signature with the openssl CLI: a verifier that shares no code with rasign.

``sign-string`` tests on every backend end the same way; the signature, the test message
and the public key go to files and ``openssl dgst -verify`` must say "Verified OK".
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any


def assert_openssl_verifies(
    public_key: Any, signature: bytes, message: bytes, workdir: Path, digest: str = "SHA256"
) -> None:
    """``public_key``: a cryptography public key, or the path of a PEM file holding one."""
    if isinstance(public_key, (str, Path)):
        pub = Path(public_key)
    else:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        pub = workdir / "openssl-verify-pub.pem"
        pub.write_bytes(public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    signature_path, message_path = workdir / "openssl-verify.sig", workdir / "openssl-verify.msg"
    signature_path.write_bytes(signature)
    message_path.write_bytes(message)
    verify = subprocess.run(
        [
            "openssl",
            "dgst",
            f"-{digest.lower()}",
            "-verify",
            str(pub),
            "-signature",
            str(signature_path),
            str(message_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0 and "Verified OK" in verify.stdout, verify.stdout + verify.stderr
