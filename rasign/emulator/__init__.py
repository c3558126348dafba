"""A local IAM Roles Anywhere + STS emulator that verifies signatures for real.

It is the offline demo backend (``rasign emulator``) and the network side of every
end-to-end test. See :class:`rasign.emulator.server.Emulator` for the Python API.
"""

from __future__ import annotations

from rasign.emulator.server import Emulator
from rasign.emulator.state import IssuedCredentials

__all__ = ["Emulator", "IssuedCredentials"]
