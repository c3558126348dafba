#!/usr/bin/env bash
# Install everything rasign needs on a fresh Debian 12 machine, idempotently:
# the system packages for the hardware backends and their tests, and the Python venv.
# Usage: scripts/bootstrap.sh            (root, or sudo available)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${RASIGN_VENV:-.venv}"
export DEBIAN_FRONTEND=noninteractive

APT_PACKAGES=(
  softhsm2 opensc p11-kit gnutls-bin          # PKCS#11: SoftHSM2 token, pkcs11-tool, p11-kit proxy
  libtpm2-pkcs11-1 libtpm2-pkcs11-tools tpm2-abrmd libtss2-tcti-tabrmd0 dbus-daemon dbus-bin  # PKCS#11 matrix: tpm2-pkcs11
  opencryptoki libnss3 libnss3-tools util-linux cackey  # PKCS#11 matrix: opencryptoki, NSS softokn, CACKey
  swtpm swtpm-tools tpm2-tools tpm2-openssl    # TPM: software TPM, tools and OpenSSL provider
  pcscd vsmartcard-vpcd ykcs11 yubico-piv-tool  # virtual PIV card: pcscd + vpcd reader, Yubico PKCS#11 + tool
  libtss2-dev pkg-config gcc libffi-dev libssl-dev openssl ca-certificates
  jq                                           # the docs' emulator examples read its JSON with jq
  zsh fish                                     # CLI: the generated completion scripts run in the real shells
  tinyproxy-bin                                # tests/transport: a real CONNECT proxy (binary only, no service)
  pinentry-tty                                 # tests: RASIGN_PINENTRY driven through the real pinentry on a pty
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "bootstrap: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.rasign-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "bootstrap: installing Python packages into $VENV (tpm2-pytss compiles, ~30 s)" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check -c constraints.txt -e '.[all,test]'
  touch "$stamp"
fi
# Byte-compile the checkout: with PYTHONDONTWRITEBYTECODE set, every rasign process would
# otherwise recompile its modules from source (about 30 ms per credential-process call).
"$VENV/bin/python" -m compileall -q rasign backends >/dev/null
