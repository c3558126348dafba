"""A virtual PIV card (YubiKey-like) for rasign's tests, served to pcscd through vsmartcard's vpcd.

Test-support code, not shipped in the wheel. ``card`` is the card edge (SP 800-73-4 plus the
Yubico extensions), ``vpcd`` the loopback transport vpcd connects to, ``pcscd`` a private pcscd
in its own mount namespace. See docs/piv.md.
"""
