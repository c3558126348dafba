"""Where the agent listens and how the two sides talk. Standard library only.

One connection carries one request. The client writes one JSON object and a newline; the
agent answers with zero or more ``{"notice": "..."}`` lines (a key waits for a touch) and
then one final object: ``{"ok": true, ...}``, ``{"ok": false, "error": {...}}``, or
``{"ok": false, "need": {"what": "PIN", "prompt": "..."}}`` when the client should ask
the person at its terminal and send the request again with ``"secret"``.

Requests (``op``):

``credentials``
    ``argv`` (the ``credential-process`` arguments), ``cwd`` and ``env`` (the client's
    ``AWS_*``/``RASIGN_*``/proxy variables): the agent parses them exactly as the CLI
    would, so the client needs no parser; optional ``secret``.
``status``
    Identities, expiry and lock state; never a secret.
``lock``
    Forget every PIN and password and close every token session and TPM context.
``stop``
    Lock, then exit.
"""

from __future__ import annotations

import os
from typing import Any

SOCKET_ENV = "RASIGN_AGENT_SOCK"
NO_AGENT_ENV = "RASIGN_NO_AGENT"
MAX_LINE = 1 << 20
"""Largest request or answer line; anything longer is refused, never buffered."""

ENV_PREFIXES = ("AWS_", "RASIGN_")
ENV_NAMES = (
    "HOME",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "SOFTHSM2_CONF",
    "TPM2TOOLS_TCTI",
    "TPM2_PKCS11_TCTI",
    "TSS2_LOG",
    "PKCS11SPY",
    "PKCS11SPY_OUTPUT",
    "P11_KIT_SERVER_ADDRESS",
)
"""What of the client's environment changes how credentials are minted (endpoints, CA
bundles, proxies, PIN variables, module configuration) and so travels with a request."""


def socket_path() -> str:
    """``$RASIGN_AGENT_SOCK``, else ``$XDG_RUNTIME_DIR/rasign/agent.sock``, else a per-uid /tmp path."""
    explicit = os.environ.get(SOCKET_ENV)
    if explicit:
        return explicit
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "rasign", "agent.sock")
    return os.path.join("/tmp", f"rasign-{os.getuid()}", "agent.sock")


def client_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The part of the environment a request carries (see :data:`ENV_NAMES`)."""
    source = os.environ if environ is None else environ
    return {name: value for name, value in source.items() if name.startswith(ENV_PREFIXES) or name in ENV_NAMES}


def encode(message: dict[str, Any]) -> bytes:
    """One message as a JSON line."""
    import json

    return json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """One JSON line as a message; ValueError when it is not a JSON object."""
    import json

    message = json.loads(line.decode("utf-8"))
    if not isinstance(message, dict):
        raise ValueError("not a JSON object")
    return message
