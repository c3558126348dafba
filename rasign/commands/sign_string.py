"""``rasign sign-string``: sign the Go helper's fixed test message with the configured key.

The message is ``"AWS Roles Anywhere Credential Helper Signing Test"`` + ``"1"`` +
SHA-256(``"IAM RA"`` + public key bytes), where the public key bytes are the PKCS#1
``RSAPublicKey`` DER for RSA and the uncompressed point for EC (empty for ML-DSA), exactly
as reference-helper.md section 5 describes, so signatures are comparable across tools.
"""

from __future__ import annotations

import argparse
import hashlib
import sys

from rasign.cli import flags

FIXED_MESSAGE = b"AWS Roles Anywhere Credential Helper Signing Test"
TEST_VERSION = b"1"


def configure(parser: argparse.ArgumentParser) -> None:
    """Go helper flags: key source, ``--format json|text|bin``, ``--digest``."""
    flags.add_signer_flags(parser, intermediates=False)
    parser.add_argument(
        "--format",
        choices=("json", "text", "bin"),
        default="json",
        help="output: hex in a JSON string, hex, or raw bytes",
    )
    parser.add_argument(
        "--digest", choices=("SHA256", "SHA384", "SHA512"), default="SHA256", help="digest to sign with"
    )
    flags.add_debug_flag(parser)


def public_key_bytes(public_key: object) -> bytes:
    """PKCS#1 DER for RSA, uncompressed X9.62 point for EC, empty otherwise."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(public_key, rsa.RSAPublicKey):
        return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b""


def test_message(public_key: object | None) -> bytes:
    """The message the Go helper signs for this public key."""
    suffix = b""
    if public_key is not None:
        key_bytes = public_key_bytes(public_key)
        if key_bytes:
            suffix = hashlib.sha256(b"IAM RA" + key_bytes).digest()
    return FIXED_MESSAGE + TEST_VERSION + suffix


def run(args: argparse.Namespace) -> int:
    """Open the key, sign the message, write the signature in the chosen format."""
    flags.check_exclusions(args, flags.SIGN_STRING_EXCLUSIONS)
    from rasign.logs import get_logger
    from rasign.registry import open_signer

    with open_signer(flags.signer_options(args)) as signer:
        certificate = signer.certificate
        public_key = certificate.public_key() if certificate is not None else signer.public_key()
        message = test_message(public_key)
        get_logger("sign-string").debug(
            'Signing fixed string of the form: "AWS Roles Anywhere Credential Helper Signing Test" || '
            'SIGN_STRING_TEST_VERSION || SHA256("IAM RA" || PUBLIC_KEY_BYTE_ARRAY)'
        )
        signature = signer.sign(message, args.digest)
    if args.format == "bin":
        sys.stdout.buffer.write(signature)
    elif args.format == "text":
        sys.stdout.write(signature.hex())
    else:
        sys.stdout.write(f'"{signature.hex()}"')
    sys.stdout.flush()
    return 0
