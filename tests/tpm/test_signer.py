"""The TPM signer in-process: long-running reuse, reload after a TPM reset, slot pressure,
no leaked handles, and ECDSA digests fitted to every curve size.
"""

from __future__ import annotations

import time

import pytest

from rasign.errors import SigningError
from rasign.options import SignerOptions
from rasign.registry import open_signer
from rasign.signer import KeyKind, verify_signature


def make_pytss_key(tpm, path, kind: str = "ecc", curve: str = "NIST_P256", parent: int | None = None):
    """A TSS2 key file made by tpm2-pytss's own TSSPrivKey (parent: the standard ECC SRK)."""
    from tpm2_pytss import TPM2_ECC
    from tpm2_pytss.tsskey import TSSPrivKey

    with tpm.esapi() as esys:
        extra = {} if parent is None else {"parent": parent}
        key = (
            TSSPrivKey.create_rsa(esys, 2048, **extra)
            if kind == "rsa"
            else TSSPrivKey.create_ecc(esys, getattr(TPM2_ECC, curve), **extra)
        )
    path.write_bytes(key.to_pem())
    return str(path)


def tpm_transients(signer) -> list[int]:
    """Transient handles seen through the signer's own connection (swtpm serves one client)."""
    from tpm2_pytss import TPM2_CAP, TPM2_HC

    _, data = signer._esys.get_capability(TPM2_CAP.HANDLES, TPM2_HC.TRANSIENT_FIRST, 16)
    return [int(data.data.handles.handle[i]) for i in range(data.data.handles.count)]


def test_long_running_signer_loads_once_and_signs_many_times(tpm, openssl_rsa):
    options = SignerOptions(
        private_key=openssl_rsa.key, certificate=str(openssl_rsa.cert), tpm_tcti=tpm.tcti, interactive=False
    )
    with open_signer(options) as signer:
        assert signer.key_kind is KeyKind.RSA and signer.algorithm == "AWS4-X509-RSA-SHA256"
        assert signer.keeps_key_loaded
        for index in range(20):
            message = b"refresh %d" % index
            assert verify_signature(signer.certificate.public_key(), signer.sign(message), message)
        assert signer.loads == 1
        assert len(tpm_transients(signer)) == 1  # the key only: the parent was flushed
    # the autouse fixture checks that close() flushed it


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_signer_survives_a_tpm_restart_between_signatures(swtpm_factory, tmp_path, transport):
    tpm = swtpm_factory(transport)
    key = make_pytss_key(tpm, tmp_path / "k.pem")
    with open_signer(SignerOptions(private_key=key, tpm_tcti=tpm.tcti, interactive=False)) as signer:
        first = signer.sign(b"before")
        tpm.restart()  # same state directory: a TPM reset, transient objects are gone
        second = signer.sign(b"after")
        assert verify_signature(signer.public_key(), first, b"before")
        assert verify_signature(signer.public_key(), second, b"after")
        assert signer.loads == 2
        assert len(tpm_transients(signer)) == 1
    assert tpm.transient_handles() == []


def test_persistent_handle_survives_a_tpm_restart(fresh_tpm, tmp_path):
    from tests.tpm import keys

    keys.tools_persistent_key(fresh_tpm, tmp_path, 0x81000110, "ecc256")
    options = SignerOptions(
        private_key="handle:0x81000110", tpm_tcti=fresh_tpm.tcti, no_tpm_key_password=True, interactive=False
    )
    with open_signer(options) as signer:
        signer.sign(b"one")
        fresh_tpm.restart()
        assert verify_signature(signer.public_key(), signer.sign(b"two"), b"two")
    assert fresh_tpm.transient_handles() == []


def test_key_is_flushed_after_each_signature_when_the_tpm_is_short_of_slots(fresh_tpm, tmp_path):
    """With one of swtpm's three slots taken by someone else, keeping the key would leave no
    room for any other client to load a key (parent + child), so it is flushed after use."""
    from tpm2_pytss import ESYS_TR, TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE

    from rasign.backends.tpm.parent import srk_template

    key = make_pytss_key(fresh_tpm, tmp_path / "k.pem")
    with fresh_tpm.esapi() as esys:  # another client's object, left loaded (no resource manager)
        esys.create_primary(TPM2B_SENSITIVE_CREATE(), TPM2B_PUBLIC(publicArea=srk_template(rsa=True)), ESYS_TR.OWNER)
    with open_signer(SignerOptions(private_key=key, tpm_tcti=fresh_tpm.tcti, interactive=False)) as signer:
        assert not signer.keeps_key_loaded
        for index in range(3):
            message = b"m%d" % index
            assert verify_signature(signer.public_key(), signer.sign(message), message)
            assert len(tpm_transients(signer)) == 1  # only the other client's object
        assert signer.loads == 3
    assert len(fresh_tpm.transient_handles()) == 1


def test_closed_signer_refuses_to_sign(tpm, openssl_ec):
    signer = open_signer(SignerOptions(private_key=openssl_ec.key, tpm_tcti=tpm.tcti, interactive=False))
    signer.close()
    signer.close()
    with pytest.raises(SigningError, match="closed"):
        signer.sign(b"x")


@pytest.mark.parametrize("curve", ["NIST_P256", "NIST_P384", "NIST_P521"])
@pytest.mark.parametrize("digest", ["SHA256", "SHA384", "SHA512"])
def test_ecdsa_digest_is_fitted_to_the_curve(tpm, tmp_path, curve, digest):
    key = make_pytss_key(tpm, tmp_path / f"{curve}.pem", curve=curve)
    with open_signer(SignerOptions(private_key=key, tpm_tcti=tpm.tcti, interactive=False)) as signer:
        signature = signer.sign(b"fitted digest", digest)
        assert signature[0] == 0x30  # DER SEQUENCE{r, s}
        assert verify_signature(signer.public_key(), signature, b"fitted digest", digest)


@pytest.mark.parametrize("flagged", [True, False])
def test_key_under_the_rsa_storage_primary(tpm, tmp_path, flagged):
    """rsaParent (field [5]) asks for the RSA storage primary; without the flag rasign falls
    back to it after the ECC primary's integrity failure (older engines used the RSA one)."""
    from tpm2_pytss import ESYS_TR, TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE

    from rasign.backends.tpm.keyfile import OWNER_HIERARCHY, TpmKeyFile
    from rasign.backends.tpm.parent import srk_template

    with tpm.esapi() as esys:
        srk, *_ = esys.create_primary(
            TPM2B_SENSITIVE_CREATE(), TPM2B_PUBLIC(publicArea=srk_template(rsa=True)), ESYS_TR.OWNER
        )
        try:
            template = TPM2B_PUBLIC.parse(
                "ecc256:null", objectAttributes="sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda"
            )
            private, public, *_ = esys.create(srk, TPM2B_SENSITIVE_CREATE(), template)
        finally:
            esys.flush_context(srk)
    path = tmp_path / "rsa-parent.pem"
    path.write_bytes(
        TpmKeyFile(
            parent=OWNER_HIERARCHY,
            public=public.marshal(),
            private=private.marshal(),
            empty_auth=True,
            rsa_parent=flagged,
        ).to_pem()
    )
    with open_signer(SignerOptions(private_key=str(path), tpm_tcti=tpm.tcti, interactive=False)) as signer:
        assert verify_signature(signer.public_key(), signer.sign(b"x"), b"x")
        assert signer.loads == 1


def test_owner_hierarchy_password_as_parent_password(fresh_tpm, tmp_path):
    from tests.tpm import keys

    key = keys.pytss_key_under_owner_password(fresh_tpm, tmp_path / "k.pem", owner_password="ownerpw")
    options = SignerOptions(
        private_key=str(key), tpm_tcti=fresh_tpm.tcti, tpm_parent_password="ownerpw", interactive=False
    )
    with open_signer(options) as signer:
        assert verify_signature(signer.public_key(), signer.sign(b"x"), b"x")
    assert fresh_tpm.transient_handles() == []


def test_pcr_and_auth_value_policy_key_in_process(tpm, pcr_auth_key):
    options = SignerOptions(
        private_key=pcr_auth_key.key, tpm_tcti=tpm.tcti, tpm_key_password="pcrpw", interactive=False
    )
    with open_signer(options) as signer:
        assert [step.command_code for step in signer.policy_steps] == [0x17F, 0x16B]
        for index in range(3):  # a fresh policy session per signature, none left behind
            assert verify_signature(signer.public_key(), signer.sign(b"%d" % index), b"%d" % index)


def test_exclusive_device_is_released_when_idle(tpm, openssl_ec, monkeypatch):
    """/dev/tpm0 admits one process: after a burst the signer lets go, then comes back."""
    from rasign.backends.tpm import signer as signer_module
    from rasign.backends.tpm.tcti import TctiChoice

    monkeypatch.setattr(TctiChoice, "exclusive", property(lambda self: True))
    monkeypatch.setattr(signer_module, "IDLE_RELEASE_SECONDS", 0.2)
    with open_signer(SignerOptions(private_key=openssl_ec.key, tpm_tcti=tpm.tcti, interactive=False)) as signer:
        for index in range(5):
            signer.sign(b"burst %d" % index)
        assert signer.connected and signer.loads == 1
        deadline = time.monotonic() + 5
        while signer.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not signer.connected
        assert tpm.transient_handles() == []  # the key was flushed, not left behind
        assert verify_signature(signer.public_key(), signer.sign(b"later"), b"later")
        assert signer.loads == 2


def test_policy_password_key(tpm, tmp_path):
    """PolicyPassword sends the password in clear inside the policy session."""
    from rasign.backends.tpm.policy import CC_POLICY_PASSWORD
    from rasign.errors import AuthenticationError
    from tests.tpm import keys

    key = keys.pytss_policy_key(tpm, tmp_path / "pw-policy.pem", pcr=16, with_auth_value="ppw", step=CC_POLICY_PASSWORD)
    with open_signer(
        SignerOptions(private_key=str(key), tpm_tcti=tpm.tcti, tpm_key_password="ppw", interactive=False)
    ) as signer:
        assert [step.command_code for step in signer.policy_steps] == [0x17F, CC_POLICY_PASSWORD]
        assert verify_signature(signer.public_key(), signer.sign(b"x"), b"x")
    options = SignerOptions(private_key=str(key), tpm_tcti=tpm.tcti, tpm_key_password="bad", interactive=False)
    with open_signer(options) as signer, pytest.raises(AuthenticationError, match="incorrect TPM key password"):
        signer.sign(b"x")


def test_replaced_persistent_key_is_detected_when_the_handle_is_opened_again(fresh_tpm, tmp_path):
    """When the signer reconnects (connection lost, TPM reset) it opens the handle again;
    a different key found there must not be used with the old certificate."""
    from rasign.errors import KeyLoadError
    from tests.tpm import keys

    keys.tools_persistent_key(fresh_tpm, tmp_path, 0x81000120, "ecc256")
    options = SignerOptions(
        private_key="handle:0x81000120", tpm_tcti=fresh_tpm.tcti, no_tpm_key_password=True, interactive=False
    )
    with open_signer(options) as signer:
        signer.sign(b"one")
        fresh_tpm.run_tool("tpm2_evictcontrol", "-Q", "-C", "o", "-c", "0x81000120")
        (tmp_path / "second").mkdir()
        keys.tools_persistent_key(fresh_tpm, tmp_path / "second", 0x81000120, "ecc256")
        signer._drop_connection()  # what a lost connection does before the reload
        with pytest.raises(KeyLoadError, match="was replaced by another key"):
            signer.sign(b"two")
    assert fresh_tpm.transient_handles() == []


@pytest.mark.parametrize(
    "algorithm, digest, works",
    [
        ("ecc384:ecdsa-sha256", "SHA256", True),
        ("ecc384:ecdsa-sha256", "SHA384", False),
        ("ecc256:ecdsa-sha384", "SHA256", True),
        ("ecc256:ecdsa-sha384", "SHA512", True),
        ("ecc384:ecdsa-sha512", "SHA384", True),
    ],
)
def test_ecdsa_keys_with_a_fixed_scheme_hash(fresh_tpm, tmp_path, algorithm, digest, works):
    """tpm2_create -G eccNNN:ecdsa-shaMMM fixes the hash the TPM accepts; rasign reshapes the
    digest so that the signature still verifies as the requested hash, or says it cannot."""
    from tests.tpm import keys

    keys.tools_persistent_key(fresh_tpm, tmp_path, 0x81000130, algorithm)
    options = SignerOptions(
        private_key="handle:0x81000130", tpm_tcti=fresh_tpm.tcti, no_tpm_key_password=True, interactive=False
    )
    with open_signer(options) as signer:
        if works:
            assert verify_signature(signer.public_key(), signer.sign(b"fixed", digest), b"fixed", digest)
        else:
            with pytest.raises(SigningError, match=f"cannot make a {digest} ECDSA signature"):
                signer.sign(b"fixed", digest)


def test_fit_ecdsa_digest_rules():
    from rasign.backends.tpm.scheme import fit_ecdsa_digest

    digest = bytes(range(1, 49))  # 48 bytes, like SHA-384
    assert fit_ecdsa_digest(digest[:32], 48, 48) == bytes(16) + digest[:32]  # left-pad: same integer
    assert fit_ecdsa_digest(digest, 32, 32) == digest[:32]  # cut to the curve size
    assert fit_ecdsa_digest(digest, 32, 48) == digest[:32] + bytes(16)  # the TPM will cut it back
    assert fit_ecdsa_digest(digest[:32], 66, 64) == bytes(32) + digest[:32]  # P-521 capped at 64
    assert fit_ecdsa_digest(digest, 48, 32) is None  # would lose bits ECDSA uses


def _occupy_slots(tpm, count: int) -> None:
    """Leave ``count`` objects loaded, as another client without a resource manager would."""
    from tpm2_pytss import ESYS_TR, TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE

    from rasign.backends.tpm.parent import srk_template

    with tpm.esapi() as esys:
        for _ in range(count):
            esys.create_primary(
                TPM2B_SENSITIVE_CREATE(), TPM2B_PUBLIC(publicArea=srk_template(rsa=False)), ESYS_TR.OWNER
            )


def test_load_waits_for_slots_another_client_frees(fresh_tpm, tmp_path):
    import threading

    key = make_pytss_key(fresh_tpm, tmp_path / "k.pem")
    _occupy_slots(fresh_tpm, 2)  # one slot left; loading needs two (parent + key)
    releaser = threading.Timer(0.1, lambda: fresh_tpm.run_tool("tpm2_flushcontext", "-t"))
    releaser.start()
    try:
        with open_signer(SignerOptions(private_key=key, tpm_tcti=fresh_tpm.tcti, interactive=False)) as signer:
            assert verify_signature(signer.public_key(), signer.sign(b"x"), b"x")
    finally:
        releaser.join()
    assert fresh_tpm.transient_handles() == []


def test_tpm_without_free_slots_is_one_clear_error(fresh_tpm, tmp_path):
    key = make_pytss_key(fresh_tpm, tmp_path / "k.pem")
    _occupy_slots(fresh_tpm, 3)
    with pytest.raises(SigningError, match="no free slot") as info:
        open_signer(SignerOptions(private_key=key, tpm_tcti=fresh_tpm.tcti, interactive=False))
    assert "tpm2_flushcontext" in info.value.one_line()
    assert len(fresh_tpm.transient_handles()) == 3  # nothing of ours left, nothing of theirs flushed


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_importable_key_signs_like_the_software_key_it_wraps(tpm, tmp_path, kind):
    from cryptography.hazmat.primitives import serialization

    from tests.tpm import keys

    key, public_pem = keys.pytss_importable_key(tpm, tmp_path / f"imp-{kind}.pem", kind)
    software_public = serialization.load_pem_public_key(public_pem)
    with open_signer(SignerOptions(private_key=str(key), tpm_tcti=tpm.tcti, interactive=False)) as signer:
        for index in range(2):
            assert verify_signature(software_public, signer.sign(b"imported %d" % index), b"imported %d" % index)
        assert signer.loads == 1


def test_importable_key_wrapped_for_another_tpm(tpm, swtpm_factory, tmp_path):
    from rasign.errors import KeyLoadError
    from tests.tpm import keys

    other = swtpm_factory("tcp")
    key, _ = keys.pytss_importable_key(other, tmp_path / "imp-other.pem")
    with pytest.raises(KeyLoadError, match="could not unwrap"):
        open_signer(SignerOptions(private_key=str(key), tpm_tcti=tpm.tcti, interactive=False))
