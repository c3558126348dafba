"""A local IAM Roles Anywhere + STS emulator that verifies signatures for real.

It is the offline demo backend (``rasign emulator``) and the network side of every
end-to-end test. See :class:`rasign.emulator.server.Emulator` for the Python API.

Modules (only ``rasign emulator``, ``rasign demo`` and the tests import this package; the
credential paths and the backends never do, so it may use ``cryptography`` freely):

- :mod:`rasign.emulator.server`: the running emulator, an HTTPS server on loopback with the
  request log and fault injection tests use;
- :mod:`rasign.emulator.state`: the emulated account: trust anchors, profiles, roles, issued credentials;
- :mod:`rasign.emulator.received`: a request exactly as it arrived (headers, raw path, query, body);
- :mod:`rasign.emulator.verify`: SigV4-X509 verification of a received CreateSession request;
- :mod:`rasign.emulator.chain`: certificate path validation to a trust anchor, as Roles Anywhere does it;
- :mod:`rasign.emulator.sessions`: CreateSession: checks in AWS's order, then temporary credentials;
- :mod:`rasign.emulator.sts`: STS GetCallerIdentity, with the issued secret's SigV4 checked for real;
- :mod:`rasign.emulator.assume_role`: STS AssumeRole: role chaining with IAM's trust rules;
- :mod:`rasign.emulator.rejection`: how a request is refused (wire status and code, reason kept server-side);
- :mod:`rasign.emulator.tls`: the throw-away CA and server certificate for ``127.0.0.1``/``localhost``.
"""

from __future__ import annotations

from rasign.emulator.server import Emulator
from rasign.emulator.state import IssuedCredentials

__all__ = ["Emulator", "IssuedCredentials"]
