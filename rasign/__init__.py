"""rasign: a hardware-backed signer for AWS IAM Roles Anywhere.

Entry points: the ``rasign`` command (``rasign.cli.main``) and, for Python programs,
``rasign.api`` (a refreshable botocore credential provider and boto3 session factory).
The SigV4-X509 algorithm lives in ``rasign.sigv4x509``; key backends in
``rasign.backends``.
"""

__version__ = "0.1.0"
