"""Helpers shared by the file-backend tests (not fixtures, so plain imports work)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from rasign.backends.file import FileBackend, FileSigner
from rasign.options import SignerOptions
from rasign.signer import verify_signature

MESSAGE = b"AWS4-X509-RSA-SHA256\n20261123T091500Z\n20261123/us-east-1/rolesanywhere/aws4_request\nabc"


def openssl(*args: str | Path, cwd: Path | None = None, input: bytes | None = None) -> bytes:
    """Run ``openssl ARGS`` and return stdout; fail the test with openssl's stderr."""
    result = subprocess.run(  # noqa: PLW1510 - checked below, with openssl's stderr in the failure
        ["openssl", *map(str, args)], cwd=cwd, input=input, capture_output=True, timeout=60
    )
    if result.returncode:
        raise AssertionError(f"openssl {' '.join(map(str, args))} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout


def open_file_signer(**options: object) -> FileSigner:
    """Open the file backend with SignerOptions built from keyword arguments."""
    options.setdefault("interactive", False)
    return FileBackend.open(SignerOptions(**options))  # type: ignore[arg-type]


def assert_signs_for_certificate(signer: FileSigner, digests: tuple[str, ...] = ("SHA256", "SHA384", "SHA512")) -> None:
    """Every digest gives a signature the certificate's public key accepts (and a tampered message fails)."""
    assert signer.certificate is not None
    public = signer.certificate.public_key()
    for digest in digests:
        signature = signer.sign(MESSAGE, digest)
        assert verify_signature(public, signature, MESSAGE, digest), digest
        assert not verify_signature(public, signature, MESSAGE + b"x", digest), digest


def openssl_verify(cert: Path, signature: bytes, message: bytes, workdir: Path, digest: str = "sha256") -> None:
    """Verify with ``openssl dgst -verify`` using the certificate's public key."""
    pub = workdir / "verify-pub.pem"
    pub.write_bytes(openssl("x509", "-in", cert, "-pubkey", "-noout"))
    (workdir / "verify-msg.bin").write_bytes(message)
    (workdir / "verify-sig.bin").write_bytes(signature)
    out = openssl(
        "dgst", f"-{digest}", "-verify", pub, "-signature", workdir / "verify-sig.bin", workdir / "verify-msg.bin"
    )
    assert b"Verified OK" in out


def der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    """One DER element (test-side encoder, independent of rasign's reader)."""
    return bytes([tag]) + der_length(len(content)) + content
