"""A TCTI for a unix socket that speaks raw TPM 2.0 commands, one connection per command.

This is what the Go helper does with ``TPM_DEVICE=/path/to/socket`` and what its tests
use (``swtpm socket --server type=unixio,path=...`` with no control channel). tpm2-tss's
swtpm TCTI also needs ``<path>.ctrl``, so without one rasign talks to the socket itself,
through tpm2-pytss's Python TCTI hook. The framing is the TPM's own: a response header
(tag, size, code) says how many bytes follow.
"""

from __future__ import annotations

import socket
from typing import Any

HEADER_SIZE = 10
MAX_RESPONSE = 4096
TCTI_RC_IO_ERROR = 0x000A000A


def make_raw_socket_tcti(path: str) -> Any:
    """A tpm2-pytss TCTI object for ``path`` (built lazily: tpm2-pytss is optional)."""
    from tpm2_pytss.TCTI import PyTCTI
    from tpm2_pytss.TSS2_Exception import TSS2_Exception

    class RawSocketTcti(PyTCTI):
        """One connection per command, like the Go helper; raw TPM command/response bytes."""

        def __init__(self) -> None:
            super().__init__(max_size=MAX_RESPONSE, magic=b"RASIGNUX")
            self._path = path
            self._response = b""

        def do_transmit(self, command: bytes) -> None:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                    connection.settimeout(60)
                    connection.connect(self._path)
                    connection.sendall(command)
                    header = _read_exactly(connection, HEADER_SIZE)
                    size = int.from_bytes(header[2:6], "big")
                    if size < HEADER_SIZE or size > MAX_RESPONSE:
                        raise OSError(f"implausible TPM response size {size}")
                    self._response = header + _read_exactly(connection, size - HEADER_SIZE)
            except OSError as err:
                raise TSS2_Exception(TCTI_RC_IO_ERROR) from err

        def do_receive(self, timeout: int) -> bytes:
            response, self._response = self._response, b""
            return response

    return RawSocketTcti()


def _read_exactly(connection: socket.socket, count: int) -> bytes:
    chunks = []
    while count:
        chunk = connection.recv(count)
        if not chunk:
            raise OSError("the TPM socket closed mid-response")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)
