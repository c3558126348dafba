"""Which TPM rasign talks to: flag, RASIGN_TPM_TCTI, TPM_DEVICE, tool variables, default device."""

from __future__ import annotations

import socket

import pytest

from rasign.backends.tpm.tcti import TctiChoice, normalise_tcti, resolve_tcti
from rasign.errors import BackendUnavailable, UsageError


def test_flag_wins_over_every_variable():
    env = {"RASIGN_TPM_TCTI": "swtpm:port=1", "TPM_DEVICE": "/dev/tpm0", "TPM2TOOLS_TCTI": "mssim"}
    choice = resolve_tcti("swtpm:port=2321", env)
    assert (choice.spec, choice.source) == ("swtpm:port=2321", "--tpm-tcti")


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"RASIGN_TPM_TCTI": "swtpm:port=1", "TPM_DEVICE": "/dev/tpm0"}, ("swtpm:port=1", "RASIGN_TPM_TCTI")),
        ({"TPM_DEVICE": "/dev/tpm0", "TPM2TOOLS_TCTI": "mssim"}, ("device:/dev/tpm0", "TPM_DEVICE")),
        ({"TPM2TOOLS_TCTI": "swtpm:port=5", "TCTI": "mssim"}, ("swtpm:port=5", "TPM2TOOLS_TCTI")),
        ({"TPM2OPENSSL_TCTI": "swtpm:host=h,port=5"}, ("swtpm:host=h,port=5", "TPM2OPENSSL_TCTI")),
        ({"TCTI": "tabrmd:bus_type=session"}, ("tabrmd:bus_type=session", "TCTI")),
    ],
)
def test_environment_precedence(env, expected):
    choice = resolve_tcti(None, env)
    assert (choice.spec, choice.source) == expected


def test_no_device_and_nothing_configured(monkeypatch):
    monkeypatch.setattr("rasign.backends.tpm.tcti.DEFAULT_DEVICES", ("/nonexistent/tpmrm0", "/nonexistent/tpm0"))
    with pytest.raises(BackendUnavailable, match="no TPM found") as info:
        resolve_tcti(None, {})
    assert "--tpm-tcti" in info.value.one_line()


def test_spellings_are_normalised(tmp_path):
    assert normalise_tcti("/dev/tpm0") == "device:/dev/tpm0"
    assert normalise_tcti("swtpm:/run/swtpm/sock") == "swtpm:path=/run/swtpm/sock"
    assert normalise_tcti(" swtpm:port=2321 ") == "swtpm:port=2321"
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as control:
        server.bind(str(path))
        # TPM_DEVICE pointing at a socket: raw TPM commands, as the Go helper sends them ...
        assert normalise_tcti(str(path)) == f"rawsocket:{path}"
        control.bind(f"{path}.ctrl")
        # ... or tcti-swtpm when swtpm's control socket sits next to it
        assert normalise_tcti(str(path)) == f"swtpm:path={path}"
    with pytest.raises(UsageError):
        normalise_tcti("  ")


def test_resource_manager_detection():
    assert TctiChoice("device:/dev/tpmrm0", "x").resource_managed
    assert TctiChoice("tabrmd", "x").resource_managed
    assert not TctiChoice("device:/dev/tpm0", "x").resource_managed
    assert not TctiChoice("swtpm:port=2321", "x").resource_managed
