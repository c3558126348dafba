"""The asymmetric keys a PIV slot holds, and the card-side operations on them.

Algorithm numbers are SP 800-78's (06 RSA-1024, 07 RSA-2048, 11 P-256, 14 P-384). RSA keys do
the raw private-key operation on the block the host already padded, as a card does; EC keys
sign the hash they are given (ECDSA, DER-encoded signature) or do ECDH.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils

from virtualpiv import tlv

RSA1024, RSA2048, ECCP256, ECCP384 = 0x06, 0x07, 0x11, 0x14
RSA_BITS = {RSA1024: 1024, RSA2048: 2048}
EC_CURVES = {ECCP256: ec.SECP256R1, ECCP384: ec.SECP384R1}
EC_SIZES = {ECCP256: 32, ECCP384: 48}

PIN_NEVER, PIN_ONCE, PIN_ALWAYS = 0x01, 0x02, 0x03
TOUCH_NEVER, TOUCH_ALWAYS, TOUCH_CACHED = 0x01, 0x02, 0x03
ORIGIN_GENERATED, ORIGIN_IMPORTED = 0x01, 0x02

_PREHASH = {20: hashes.SHA1, 28: hashes.SHA224, 32: hashes.SHA256, 48: hashes.SHA384, 64: hashes.SHA512}


class KeyOperationError(ValueError):
    """The host sent data the key cannot work on (the card answers 6A80)."""


@dataclass
class SlotKey:
    """A private key in a slot with the policies it was generated or imported with."""

    algorithm: int
    private: object
    pin_policy: int
    touch_policy: int
    origin: int

    @classmethod
    def generate(cls, algorithm: int, pin_policy: int, touch_policy: int) -> SlotKey:
        if algorithm in RSA_BITS:
            private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS[algorithm])
        elif algorithm in EC_CURVES:
            private = ec.generate_private_key(EC_CURVES[algorithm]())
        else:
            raise KeyOperationError(f"unsupported algorithm {algorithm:#04x}")
        return cls(algorithm, private, pin_policy, touch_policy, ORIGIN_GENERATED)

    @classmethod
    def from_import(cls, algorithm: int, fields: dict[int, bytes], pin_policy: int, touch_policy: int) -> SlotKey:
        """IMPORT KEY's fields: RSA 01 p, 02 q, 03 dp, 04 dq, 05 qinv (e is 65537); EC 06 scalar."""
        if algorithm in RSA_BITS:
            try:
                p, q, dp, dq, qinv = (int.from_bytes(fields[t], "big") for t in (1, 2, 3, 4, 5))
            except KeyError as missing:
                raise KeyOperationError(f"RSA import lacks tag {missing}") from None
            e = 65537
            n = p * q
            d = pow(e, -1, (p - 1) * (q - 1))
            if n.bit_length() != RSA_BITS[algorithm]:
                raise KeyOperationError("RSA modulus has the wrong size")
            private = rsa.RSAPrivateNumbers(p, q, d, dp, dq, qinv, rsa.RSAPublicNumbers(e, n)).private_key()
        elif algorithm in EC_CURVES:
            scalar = fields.get(6)
            if scalar is None or len(scalar) != EC_SIZES[algorithm]:
                raise KeyOperationError("EC import needs tag 06 with the private scalar")
            private = ec.derive_private_key(int.from_bytes(scalar, "big"), EC_CURVES[algorithm]())
        else:
            raise KeyOperationError(f"unsupported algorithm {algorithm:#04x}")
        return cls(algorithm, private, pin_policy, touch_policy, ORIGIN_IMPORTED)

    def public_key(self):
        return self.private.public_key()

    def public_tlvs(self) -> bytes:
        """The public key as GENERATE answers it inside 7F49: 81 n 82 e, or 86 point."""
        public = self.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            numbers = public.public_numbers()
            n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
            e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
            return tlv.encode(0x81, n) + tlv.encode(0x82, e)
        from cryptography.hazmat.primitives import serialization

        point = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return tlv.encode(0x86, point)

    def sign(self, data: bytes) -> bytes:
        """RSA: raw m^d mod n of the host-padded block. EC: ECDSA of the given hash, DER."""
        if self.algorithm in RSA_BITS:
            size = RSA_BITS[self.algorithm] // 8
            if len(data) != size:
                raise KeyOperationError(f"RSA input must be {size} bytes, got {len(data)}")
            numbers = self.private.private_numbers()
            m = int.from_bytes(data, "big")
            if m >= numbers.public_numbers.n:
                raise KeyOperationError("RSA input is not smaller than the modulus")
            return pow(m, numbers.d, numbers.public_numbers.n).to_bytes(size, "big")
        if not data:
            raise KeyOperationError("nothing to sign")
        digest = data if len(data) in _PREHASH else data.rjust(EC_SIZES[self.algorithm], b"\0")
        if len(digest) not in _PREHASH:
            raise KeyOperationError(f"EC input of {len(data)} bytes is not a hash")
        return self.private.sign(digest, ec.ECDSA(utils.Prehashed(_PREHASH[len(digest)]())))

    def ecdh(self, point: bytes) -> bytes:
        if self.algorithm not in EC_CURVES:
            raise KeyOperationError("ECDH needs an EC key")
        try:
            peer = ec.EllipticCurvePublicKey.from_encoded_point(EC_CURVES[self.algorithm](), point)
        except ValueError:
            raise KeyOperationError("not a point on the key's curve") from None
        return self.private.exchange(ec.ECDH(), peer)
