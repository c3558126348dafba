"""Logging to stderr with secrets scrubbed at every level.

stdout belongs to command output (the credential_process JSON), so every log line goes to
stderr. Two layers keep secrets out of logs even at ``--debug``:

1. code never formats a secret into a message (reviewed, and tested by grepping logs);
2. a filter on the handler replaces any registered secret value (issued keys, tokens,
   PINs, passwords, proxy credentials) and known secret-bearing patterns (``pin-value=``,
   ``Signature=``, ``X-Amz-Security-Token``, ``Basic ...``) with ``***`` as a safety net.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time

LOGGER_NAME = "rasign"

_secrets: set[str] = set()
_secrets_lock = threading.Lock()

_PATTERNS = (
    (re.compile(r"(pin-value=)[^&;\s]*", re.IGNORECASE), r"\1***"),
    (re.compile(r"(Signature=)[0-9a-fA-F]+"), r"\1***"),
    (re.compile(r"(\bBasic\s+)[A-Za-z0-9+/=]{8,}"), r"\1***"),  # HTTP Basic credentials (proxy auth)
    (
        re.compile(
            r"((?:x-amz-security-token|aws_session_token|sessiontoken|x-aws-ec2-metadata-token|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+",
            re.IGNORECASE,
        ),
        r"\1***",
    ),
    # Capital "Token" is the IMDS/ECS JSON member; lowercase "token=" is a PKCS#11 token
    # label in a URI, which users need to see.
    (re.compile(r"(\bToken[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"), r"\1***"),
    (
        re.compile(r"((?:SecretAccessKey|secretAccessKey|aws_secret_access_key)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
        r"\1***",
    ),
)


def register_secret(value: str | None) -> None:
    """Remember a secret so that any log line containing it is scrubbed."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    """Remove registered secrets and secret-bearing patterns from ``text``."""
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, "***")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def defang(text: str) -> str:
    """Replace terminal control and format characters with ``?``, keeping newlines and tabs.

    The last line of defence for log records: a message that formats outside text the code
    forgot to pass through :func:`rasign.textsafe.clean` (a request path at ``--debug``) still
    cannot retitle the terminal or hide text. Newlines stay for the multi-line debug dumps
    (canonical request) rasign writes itself.
    """
    from rasign.textsafe import is_clean

    if is_clean(text.replace("\n", " ").replace("\t", " ")):
        return text
    from rasign.textsafe import _unsafe

    return "".join("?" if char not in "\n\t" and _unsafe(char) else char for char in text)


class _ScrubbingFormatter(logging.Formatter):
    def __init__(self, structured: bool) -> None:
        super().__init__("%(asctime)s rasign %(levelname)s %(message)s")
        self.structured = structured

    def format(self, record: logging.LogRecord) -> str:
        if self.structured:
            payload = {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": defang(record.getMessage()),
            }
            if record.exc_info:
                payload["exception"] = self.formatException(record.exc_info)
            return scrub(json.dumps(payload, separators=(",", ":")))
        return scrub(defang(super().format(record)))


def configure(debug: bool = False, structured: bool = False) -> logging.Logger:
    """Send rasign's logs to stderr; INFO by default, DEBUG with ``--debug``."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ScrubbingFormatter(structured))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    return logger


def get_logger(name: str = "") -> logging.Logger:
    """A child of the ``rasign`` logger."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)
