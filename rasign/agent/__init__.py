"""``rasign agent``: one PIN per login session, credentials in milliseconds.

A per-user daemon, as ssh-agent and gpg-agent are for their keys. It keeps hardware
signers open (a PKCS#11 token session logged in, a TPM key loaded), the PINs and
passwords its clients typed (in memory only, for a configurable time), and the
credentials it minted; ``credential-process`` and the other clients ask it first.

Modules:

- :mod:`rasign.agent.protocol`: the socket path and the JSON-lines wire format
  (standard library only, shared by both sides);
- :mod:`rasign.agent.client`: what ``credential-process`` runs (standard library only, so
  an answer from the agent costs no cryptography, ssl or HTTP client import);
- :mod:`rasign.agent.server`: the daemon's state (identities, PIN holding, lock, peer checks);
- :mod:`rasign.agent.loop`: its socket (one event loop; a small pool for minting and signing);
- :mod:`rasign.agent.notices`: telling the person that a key waits for a touch or a PIN.
- :mod:`rasign.agent.forward`: ``exec`` and ``export`` through the agent (their line as
  ``credential-process`` arguments; the agent's errors with their own class and exit code).

The security model is written down in docs/agent.md.
"""
