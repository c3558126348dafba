"""Bring up real PKCS#11 modules in private directories for the module matrix (issue 14).

Every module gets the same identities, made here with ``cryptography`` and certified by the
test session's ``pki`` root (so the emulator trusts them), then put on the token with the
module's own tools (``pkcs11-tool``, ``tpm2_ptool``, ``pk12util``), never with rasign:

``rsa``     RSA-2048 key and its certificate (issued by the root)
``ec``      P-256 key and its certificate, issued by an intermediate CA whose certificate is
            on the token too (the "EC with chain" case); on tpm2-pkcs11 the key is
            generated inside the TPM and its certificate made for the exported public key
``rsa-aa``  RSA-2048 key with CKA_ALWAYS_AUTHENTICATE, where the module can store one

Adding a module = one function here returning a :class:`Module` (start its daemons with
:class:`Daemons` so they are killed by PID afterwards, import the identities, fill in what
the module can do) and one entry in ``conftest.MODULES``; every matrix test then runs on
it. A module the matrix cannot run on a machine raises :class:`Unavailable` with the
package to install, which the fixture turns into a skip with that reason.

For the virtual PIV card (ykcs11 / OpenSC behind pcscd + vpcd): start pcscd and the card
with :class:`Daemons` (in a private mount namespace for ``/run``, like opencryptoki here),
provision it with yubico-piv-tool, and return ``Module(library=".../libykcs11.so", token=...,
objects={"rsa": "...", "ec": "...", "rsa-aa": "..."}, prefix=[nsenter ...], ...)``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.conftest import clean_env
from tests.support.pki import Authority, cert_pem, new_key

LIBDIR = Path("/usr/lib/x86_64-linux-gnu")
SPY = LIBDIR / "pkcs11" / "pkcs11-spy.so"
SOFTHSM = Path("/usr/lib/softhsm/libsofthsm2.so")


class Unavailable(Exception):
    """This machine lacks what the module needs (the message says what to install)."""


def need(*tools: str, files: tuple[Path, ...] = (), package: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            raise Unavailable(f"{tool} not found: apt-get install {package} (scripts/bootstrap.sh does)")
    for path in files:
        if not path.exists():
            raise Unavailable(f"{path} not found: apt-get install {package} (scripts/bootstrap.sh does)")


def run(*args: str, env: dict[str, str] | None = None, prefix: list[str] | None = None, timeout: float = 60) -> str:
    done = subprocess.run(
        [*(prefix or []), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:3])} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        )
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_pair() -> int:
    """A loopback port whose successor is free too (swtpm's server and control channel)."""
    for _ in range(50):
        port = free_port()
        if port >= 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free loopback ports")


@dataclass
class Daemons:
    """Processes started for one module, stopped by PID (never by name)."""

    started: list[subprocess.Popen] = field(default_factory=list)

    def start(self, *args: str, env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen:
        out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - kept open for the daemon's life
        proc = subprocess.Popen(list(args), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.started):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        self.started.clear()


def wait_for(
    check, what: str, timeout: float = 15.0, *, process: subprocess.Popen | None = None, log: Path | None = None
) -> None:
    """Poll a readiness check of a daemon we just started (a real start-up, not a timed test).

    With ``process``, the daemon exiting meanwhile fails at once with the tail of its ``log``.
    """
    deadline = time.monotonic() + timeout
    while not check():
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-400:] if log is not None else ""
            raise RuntimeError(f"{what} exited: {tail}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {timeout} s")
        time.sleep(0.05)


@dataclass
class Identity:
    """A key pair and its certificate as files, before and after going onto a token."""

    role: str
    key: object
    cert: x509.Certificate
    cert_path: Path
    key_der: Path
    key_pem: Path
    chain: list[Authority] = field(default_factory=list)


@dataclass
class Module:
    """One PKCS#11 module ready for the matrix: how to reach its token and what it can do."""

    name: str
    library: str
    token: str
    pin: str
    objects: dict[str, str]
    """role -> CKA_LABEL of the key (and certificate) on the token; absent role = cannot."""
    certs: dict[str, Path]
    """role -> PEM file of the certificate (for the file-certificate case and openssl)."""
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    """Extra rasign flags (``--pkcs11-init-args`` for NSS softokn)."""
    prefix: list[str] = field(default_factory=list)
    """Command prefix for everything that uses the module (``nsenter`` for opencryptoki)."""
    context_login: bool = True
    """``C_Login(CKU_CONTEXT_SPECIFIC)`` works (opencryptoki: CKR_USER_TYPE_INVALID)."""
    notes: str = ""
    daemons: Daemons = field(default_factory=Daemons)

    @classmethod
    def of_identities(cls, name: str, library: str, token: str, pin: str, ids: dict[str, Identity], **more) -> Module:
        """A module whose token holds ``ids``, each key and certificate labelled with its role."""
        return cls(name, library, token, pin, {r: r for r in ids}, {r: i.cert_path for r, i in ids.items()}, **more)

    def uri(self, role: str, *, pin: bool = True, wrong_pin: str | None = None) -> str:
        text = f"pkcs11:token={self.token.replace(' ', '%20')};object={self.objects[role]}"
        if wrong_pin is not None:
            return text + f"?pin-value={wrong_pin}"
        return text + (f"?pin-value={self.pin}" if pin else "")

    def rasign(
        self, *args: str, env: dict[str, str] | None = None, spy_log: Path | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        """``python -m rasign ARGS`` on this module (through pkcs11-spy when ``spy_log``)."""
        extra = dict(self.env, **(env or {}))
        library = self.library
        if spy_log is not None:
            extra.update(PKCS11SPY=self.library, PKCS11SPY_OUTPUT=str(spy_log))
            library = str(SPY)
        return self.python("-m", "rasign", *args, "--pkcs11-lib", library, *self.args, env=extra, timeout=timeout)

    def python(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.prefix, sys.executable, *args],
            env=clean_env(dict(self.env, **(env or {}))),
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
            check=False,
        )


def make_identities(pki, directory: Path, name: str, always_auth: bool = True) -> dict[str, Identity]:
    """The three identities, as files (PKCS#8 DER for pkcs11-tool, PEM for the others)."""
    directory.mkdir(parents=True, exist_ok=True)
    intermediate = pki.intermediate(f"rasign {name} intermediate")
    found: dict[str, Identity] = {}
    for role, kind, issuer in (("rsa", "rsa", None), ("ec", "ec", intermediate), ("rsa-aa", "rsa", None)):
        if role == "rsa-aa" and not always_auth:
            continue
        key = new_key(kind)
        found[role] = write_identity(pki, directory, name, role, key, key.public_key(), issuer)
    (directory / "intermediate.pem").write_bytes(intermediate.pem)
    found["ec"].chain = [intermediate]
    return found


def write_identity(pki, directory: Path, name: str, role: str, key, public_key, issuer: Authority | None) -> Identity:
    cert_path = directory / f"{role}.pem"
    cert = pki.issue(public_key, cert_path, cn=f"{name} {role}", issuer=issuer)
    (directory / f"{role}.crt.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    key_der, key_pem = directory / f"{role}.key.der", directory / f"{role}.key.pem"
    if key is not None:
        key_der.write_bytes(
            key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return Identity(role, key, cert, cert_path, key_der, key_pem)


IDS = {"rsa": "01", "ec": "02", "rsa-aa": "03"}


def pkcs11_tool_import(
    library: str,
    token: str,
    pin: str,
    ids: dict[str, Identity],
    directory: Path,
    env: dict[str, str],
    prefix: list[str] | None = None,
    slot: list[str] | None = None,
) -> None:
    """Keys, certificates and the intermediate onto a token with OpenSC's pkcs11-tool."""
    where = slot or ["--token-label", token]
    base = ["pkcs11-tool", "--module", library, *where, "--login", "--pin", pin]
    for role, ident in ids.items():
        flags = ["--always-auth"] if role == "rsa-aa" else []
        write_object(base, ident.key_der, "privkey", IDS[role], role, "--usage-sign", *flags, env=env, prefix=prefix)
        write_object(base, directory / f"{role}.crt.der", "cert", IDS[role], role, env=env, prefix=prefix)
    write_object(base, intermediate_der(directory), "cert", "10", "intermediate", env=env, prefix=prefix)


def write_object(
    base: list[str],
    path: Path,
    kind: str,
    object_id: str,
    label: str,
    *flags: str,
    env: dict[str, str],
    prefix: list[str] | None = None,
) -> None:
    """One ``pkcs11-tool --write-object`` (``base``: the tool, its module, token and login)."""
    run(
        *base,
        "--write-object",
        str(path),
        "--type",
        kind,
        "--id",
        object_id,
        "--label",
        label,
        *flags,
        env=env,
        prefix=prefix,
    )


def intermediate_der(directory: Path) -> Path:
    """The intermediate CA certificate of :func:`make_identities` as DER, written next to its PEM."""
    inter = directory / "intermediate.der"
    inter.write_bytes(
        x509.load_pem_x509_certificate((directory / "intermediate.pem").read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
    )
    return inter


# -- the modules -----------------------------------------------------------------------------


def softhsm(pki, root: Path) -> Module:
    need("softhsm2-util", "pkcs11-tool", files=(SOFTHSM,), package="softhsm2 opensc")
    conf = root / "softhsm2.conf"
    (root / "tokens").mkdir(parents=True)
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    run(
        "softhsm2-util", "--init-token", "--free", "--label", "matrix", "--so-pin", "87654321", "--pin", "1234", env=env
    )
    ids = make_identities(pki, root / "ids", "softhsm")
    pkcs11_tool_import(str(SOFTHSM), "matrix", "1234", ids, root / "ids", env)
    return Module.of_identities(
        "softhsm",
        str(SOFTHSM),
        "matrix",
        "1234",
        ids,
        env={"SOFTHSM2_CONF": str(conf)},
    )


def p11kit_remote(pki, root: Path, backing: Module) -> Module:
    """The SoftHSM token of ``backing`` forwarded by ``p11-kit server`` over a unix socket."""
    client = LIBDIR / "pkcs11" / "p11-kit-client.so"
    need("p11-kit", files=(client,), package="p11-kit")
    root.mkdir(parents=True, exist_ok=True)
    sock = root / "sock"
    daemons = Daemons()
    daemons.start(
        "p11-kit",
        "server",
        "-f",
        "-n",
        str(sock),
        "--provider",
        backing.library,
        f"pkcs11:token={backing.token}",
        env=dict(os.environ, **backing.env),
        log=root / "server.log",
    )
    wait_for(sock.exists, "p11-kit server")
    return Module(
        "p11-kit-remote",
        str(client),
        backing.token,
        backing.pin,
        dict(backing.objects),
        dict(backing.certs),
        env={"P11_KIT_SERVER_ADDRESS": f"unix:path={sock}"},
        daemons=daemons,
        notes="SoftHSM2 behind p11-kit server, reached through p11-kit-client.so",
    )


def tpm2_pkcs11(pki, root: Path) -> Module:
    library = LIBDIR / "pkcs11" / "libtpm2_pkcs11.so"
    need(
        "swtpm",
        "tpm2-abrmd",
        "dbus-daemon",
        "tpm2_ptool",
        "pkcs11-tool",
        files=(library,),
        package="swtpm libtpm2-pkcs11-1 libtpm2-pkcs11-tools tpm2-abrmd libtss2-tcti-tabrmd0 dbus-daemon",
    )
    need(files=(LIBDIR / "libtss2-tcti-tabrmd.so.0",), package="libtss2-tcti-tabrmd0")
    for sub in ("state", "store"):
        (root / sub).mkdir(parents=True)
    daemons = Daemons()
    try:
        return _tpm2_pkcs11_up(pki, root, library, daemons)
    except BaseException:
        daemons.stop()
        raise


def _tpm2_pkcs11_up(pki, root: Path, library: Path, daemons: Daemons) -> Module:
    port = free_port_pair()
    ctrl = port + 1  # the swtpm TCTI finds the control channel at port + 1
    tpm = daemons.start(
        "swtpm",
        "socket",
        "--tpm2",
        "--tpmstate",
        f"dir={root / 'state'}",
        "--server",
        f"type=tcp,port={port},bindaddr=127.0.0.1",
        "--ctrl",
        f"type=tcp,port={ctrl},bindaddr=127.0.0.1",
        "--flags",
        "not-need-init,startup-clear",
        log=root / "swtpm.log",
    )
    bus = root / "bus"
    daemons.start("dbus-daemon", "--session", f"--address=unix:path={bus}", "--nofork", log=root / "dbus.log")
    wait_for(bus.exists, "dbus-daemon")
    bus_name = f"com.rasign.test.p{os.getpid()}"
    bus_env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=f"unix:path={bus}")

    def swtpm_up() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_for(swtpm_up, "swtpm", process=tpm, log=root / "swtpm.log")
    abrmd = daemons.start(
        "tpm2-abrmd",
        "--session",
        "--allow-root",
        "--flush-all",
        f"--dbus-name={bus_name}",
        f"--tcti=swtpm:host=127.0.0.1,port={port}",
        env=bus_env,
        log=root / "abrmd.log",
    )
    tcti = f"tabrmd:bus_type=session,bus_name={bus_name}"
    env = {
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={bus}",
        "TPM2_PKCS11_TCTI": tcti,
        "TPM2_PKCS11_STORE": str(root / "store"),
        "TPM2TOOLS_TCTI": tcti,
    }
    full = dict(os.environ, **env)

    def abrmd_up() -> bool:
        return (
            subprocess.run(
                [
                    "dbus-send",
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/",
                    "org.freedesktop.DBus.NameHasOwner",
                    f"string:{bus_name}",
                ],
                env=full,
                capture_output=True,
                text=True,
                check=False,
            ).stdout.find("true")
            >= 0
        )

    wait_for(abrmd_up, "tpm2-abrmd", process=abrmd, log=root / "abrmd.log")
    run("tpm2_ptool", "init", env=full)
    run("tpm2_ptool", "addtoken", "--pid=1", "--label=matrix-tpm", "--sopin=87654321", "--userpin=1234", env=full)
    ids = make_identities(pki, root / "ids", "tpm2", always_auth=True)
    for role in ("rsa", "rsa-aa"):
        flags = ["--attr-always-authenticate"] if role == "rsa-aa" else []
        run(
            "tpm2_ptool",
            "import",
            "--label=matrix-tpm",
            f"--key-label={role}",
            f"--id={IDS[role]}",
            "--userpin=1234",
            f"--privkey={ids[role].key_pem}",
            "--algorithm=rsa",
            *flags,
            env=full,
        )
    # The EC key is generated inside the TPM; its certificate is made for the exported public key.
    run(
        "tpm2_ptool",
        "addkey",
        "--label=matrix-tpm",
        "--key-label=ec",
        f"--id={IDS['ec']}",
        "--userpin=1234",
        "--algorithm=ecc256",
        env=full,
    )
    spki = root / "ids" / "ec-tpm.pub.der"
    run(
        "pkcs11-tool",
        "--module",
        str(library),
        "--token-label",
        "matrix-tpm",
        "--read-object",
        "--type",
        "pubkey",
        "--label",
        "ec",
        "-o",
        str(spki),
        env=full,
    )
    public = serialization.load_der_public_key(spki.read_bytes())
    ids["ec"] = write_identity(
        pki, root / "ids", "tpm2", "ec", None, public, ids["ec"].chain[0] if ids["ec"].chain else None
    )
    for role in ("rsa", "ec", "rsa-aa"):
        run("tpm2_ptool", "addcert", "--label=matrix-tpm", f"--key-label={role}", str(ids[role].cert_path), env=full)
    base = ["pkcs11-tool", "--module", str(library), "--token-label", "matrix-tpm", "--login", "--pin", "1234"]
    write_object(base, intermediate_der(root / "ids"), "cert", "10", "intermediate", env=full)
    return Module.of_identities(
        "tpm2-pkcs11",
        str(library),
        "matrix-tpm",
        "1234",
        ids,
        env=env,
        daemons=daemons,
        notes="swtpm + tpm2-abrmd on a private dbus; ec generated inside the TPM",
    )


OCK_SLOT = "3"


def opencryptoki(pki, root: Path) -> Module:
    library = LIBDIR / "pkcs11" / "libopencryptoki.so"
    need("pkcsslotd", "unshare", "nsenter", "pkcs11-tool", files=(library,), package="opencryptoki util-linux opensc")
    if os.geteuid() != 0:
        raise Unavailable("opencryptoki's compiled-in paths need a private mount namespace: run the tests as root")
    etc, var = root / "etc", root / "var"
    (var / "swtok" / "TOK_OBJ").mkdir(parents=True)
    etc.mkdir()
    (etc / "opencryptoki.conf").write_text(
        f"version opencryptoki-3.1\n\nslot {OCK_SLOT}\n{{\nstdll = libpkcs11_sw.so\n}}\n"
    )
    shutil.chown(var, group="pkcs11") if _has_group("pkcs11") else None
    script = (
        f"mount --bind {etc} /etc/opencryptoki && mount --bind {var} /var/lib/opencryptoki"
        " && mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /dev/shm && mount -t tmpfs tmpfs /var/log"
        " && mkdir -p /run/opencryptoki /run/lock/opencryptoki/swtok /var/log/opencryptoki"
        " && exec pkcsslotd -f"
    )
    daemons = Daemons()
    slotd = daemons.start(
        "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, log=root / "slotd.log"
    )
    prefix = ["nsenter", "-t", str(slotd.pid), "-m", "--"]

    def slotd_up() -> bool:
        return subprocess.run([*prefix, "test", "-S", "/run/pkcsslotd.socket"], check=False).returncode == 0

    try:
        wait_for(slotd_up, "pkcsslotd", process=slotd, log=root / "slotd.log")
        slot = ["--slot", OCK_SLOT]
        run(
            "pkcs11-tool",
            "--module",
            str(library),
            *slot,
            "--init-token",
            "--label",
            "matrix-ock",
            "--so-pin",
            "87654321",
            prefix=prefix,
        )
        run(
            "pkcs11-tool",
            "--module",
            str(library),
            *slot,
            "--login",
            "--login-type",
            "so",
            "--so-pin",
            "87654321",
            "--init-pin",
            "--pin",
            "12345678",
            prefix=prefix,
        )
        ids = make_identities(pki, root / "ids", "opencryptoki")
        ids.pop("ec")  # the soft token has no EC mechanisms
        pkcs11_tool_import(
            str(library), "matrix-ock", "12345678", ids, root / "ids", dict(os.environ), prefix=prefix, slot=slot
        )
    except BaseException:
        daemons.stop()
        raise
    return Module.of_identities(
        "opencryptoki",
        str(library),
        "matrix-ock",
        "12345678",
        ids,
        prefix=prefix,
        context_login=False,
        daemons=daemons,
        notes="soft token in a private mount namespace; no EC, refuses context login",
    )


def _has_group(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def nss_softokn(pki, root: Path) -> Module:
    library = LIBDIR / "libsoftokn3.so"
    need("certutil", "pk12util", files=(library,), package="libnss3 libnss3-tools")
    db = root / "db"
    db.mkdir(parents=True)
    password = root / "password"
    password.write_text("1234\n")
    run("certutil", "-N", "-d", f"sql:{db}", "-f", str(password))
    ids = make_identities(pki, root / "ids", "nss", always_auth=False)
    for role, ident in ids.items():
        p12 = root / "ids" / f"{role}.p12"
        p12.write_bytes(
            pkcs12.serialize_key_and_certificates(
                role.encode(), ident.key, ident.cert, None, serialization.BestAvailableEncryption(b"p12pass")
            )
        )
        run("pk12util", "-i", str(p12), "-d", f"sql:{db}", "-k", str(password), "-W", "p12pass")
    run(
        "certutil",
        "-A",
        "-d",
        f"sql:{db}",
        "-n",
        "intermediate",
        "-t",
        ",,",
        "-i",
        str(root / "ids" / "intermediate.pem"),
        "-f",
        str(password),
    )
    init = f"configdir='sql:{db}' certPrefix='' keyPrefix='' secmod='secmod.db' flags="
    return Module.of_identities(
        "nss-softokn",
        str(library),
        "NSS Certificate DB",
        "1234",
        ids,
        args=["--pkcs11-init-args", init],
        context_login=False,
        notes="loaded directly with C_Initialize arguments (--pkcs11-init-args)",
    )


def cert_chain_pem(module: Module, role: str) -> bytes:
    return module.certs[role].read_bytes()


__all__ = ["Module", "Unavailable", "cert_pem"]
