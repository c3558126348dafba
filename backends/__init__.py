"""rasign's built-in key backends (installed as ``rasign.backends``).

Each backend implements :class:`rasign.backend.Backend` and is loaded by
:mod:`rasign.registry` only when its inputs are used, so nothing here is imported on a
cached ``credential-process`` and this package's own ``__init__`` stays empty of code. A
backend imports from the core only what :data:`rasign.backend.BACKEND_INTERFACE` lists, and
never another backend's modules (tests/core/test_import_rules.py checks both). The heavy
libraries (``cryptography``, python-pkcs11, tpm2-pytss, ctypes) are imported inside the
functions that need them.

Modules and subpackages:

- :mod:`rasign.backends.file`: the file backend: a certificate and a private key in ordinary files
  (PEM, DER, PKCS#12, combined PEM, ``env:NAME``);
- :mod:`rasign.backends.file_keys`: decoding private keys and PKCS#12 bundles, with specific errors;
- :mod:`rasign.backends.file_sources`: where the file backend's bytes come from (a path or ``env:NAME``);
- :mod:`rasign.backends.pkcs8`: just enough DER to classify key files and open what ``cryptography``
  cannot (built on :mod:`rasign.der`);
- :mod:`rasign.backends.mldsa_keys`: ML-DSA private keys from PKCS#8, in all three RFC 9881 shapes;
- :mod:`rasign.backends.pkcs11`: keys on smart cards, YubiKey PIV and HSMs (``pkcs11:`` URIs);
- :mod:`rasign.backends.tpm`: TPM 2.0 keys (TSS2 PRIVATE KEY files, persistent ``handle:`` keys);
- :mod:`rasign.backends.store`: certificate stores searched by ``--cert-selector`` (directory,
  PKCS#11 tokens, Windows, macOS).
"""
