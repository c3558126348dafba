"""rasign: a hardware-backed signer for AWS IAM Roles Anywhere.

Entry points: the ``rasign`` command (``rasign.cli.main``) and, for Python programs,
``rasign.api`` (a refreshable botocore credential provider and boto3 session factory).
The SigV4-X509 algorithm lives in ``rasign.sigv4x509``; key backends in
``rasign.backends``.

Module map. The cold ``credential-process`` path (:mod:`rasign.entry`, :mod:`rasign.cache`,
:mod:`rasign.agent.client`, :mod:`rasign.options`, :mod:`rasign.credentials` and what they
import) is standard library only: no ``cryptography``, ``ssl`` or HTTPS client there.
:mod:`rasign.transport` is the HTTPS client; backends are loaded only when used, through
:mod:`rasign.registry`, and the core never imports one by name.

Entry points and commands:

- :mod:`rasign.__main__`: ``python -m rasign``, the same CLI as the ``rasign`` command;
- :mod:`rasign.entry`: the console script; asks a running agent first, before loading the CLI
  (standard library only);
- :mod:`rasign.cli`: parsing, help, man page, completions, dispatch to one command;
- :mod:`rasign.commands`: one module per command (``configure(parser)`` and ``run(args)``);
- :mod:`rasign.api`: the Python API: refreshable botocore credentials and boto3 sessions;
- :mod:`rasign.agent`: the per-user agent (one PIN per login session) and its client;
- :mod:`rasign.serve`: the local IMDSv2 / ECS / unix-socket endpoints behind ``rasign serve``;
- :mod:`rasign.emulator`: a local Roles Anywhere + STS emulator that verifies signatures for real;
- :mod:`rasign.doctor`: the preflight checks behind ``rasign doctor`` (no PIN attempt spent).

What a user asked for:

- :mod:`rasign.options`: signer and session options, plain data with flag metadata
  (dataclasses only: imported on every ``credential-process``);
- :mod:`rasign.validate`: option value validators shared by the CLI and the API (standard library only);
- :mod:`rasign.arns`: ARNs and the region/partition they imply, checked before anything is signed;
- :mod:`rasign.endpoints`: partition-aware CreateSession endpoint resolution;
- :mod:`rasign.identities`: named identities (``[identity.NAME]`` tables in a TOML file);
- :mod:`rasign.secrets`: where PINs and passwords come from (value, file, environment, prompt);
- :mod:`rasign.peercred`: who is at the other end of a unix socket (``SO_PEERCRED``), for serve, the agent and its client;
- :mod:`rasign.pinentry`: asking for a PIN through a pinentry program, with or without a terminal
  (standard library only);
- :mod:`rasign.localfile`: reading a small user-named file, refusing FIFOs, devices and huge files.

Keys and certificates:

- :mod:`rasign.backend`: the written contract between the core and its key backends;
- :mod:`rasign.registry`: picks the backend for a set of inputs, loading only that one;
- :mod:`rasign.signer`: the narrow ``Signer`` interface every backend implements;
- :mod:`rasign.certs`: reading certificates from files and checking them before any network call;
- :mod:`rasign.der`: the one DER reader (standard library only, no ``cryptography``);
- :mod:`rasign.x509names`: X.509 names read from the DER, rendered as Go does, compared leniently.

Signing and the network:

- :mod:`rasign.sigv4x509`: the SigV4-X509 request signature, pure (no I/O, no clock);
- :mod:`rasign.session`: the CreateSession client: sign, send, retry, explain failures;
- :mod:`rasign.workflow`: the steps every credential path shares (inputs, key, session);
- :mod:`rasign.multirole`: several roles minted from one unlocked signer;
- :mod:`rasign.chain`: role chaining through ``sts:AssumeRole`` (botocore, imported only when chained);
- :mod:`rasign.caller_identity`: STS GetCallerIdentity signed with ordinary SigV4 (``rasign demo``);
- :mod:`rasign.transport`: the HTTPS client over the standard library (not on a cache hit);
- :mod:`rasign.proxies`: which proxy a request goes through, read from the environment as ``requests`` does;
- :mod:`rasign.network_errors`: why a request failed, in plain words.

Credentials and where they go:

- :mod:`rasign.credentials`: temporary credentials and every text they travel as (standard library only);
- :mod:`rasign.cache`: the ``credential-process`` credential cache (standard library only);
- :mod:`rasign.cachedir`: where the credential cache and compiled identities live (standard library only);
- :mod:`rasign.credfile`: writing the shared AWS credentials file atomically, under a lock;
- :mod:`rasign.ini`: an INI model that reads files exactly as botocore does;
- :mod:`rasign.refresh`: the refresh policy of every long-running consumer (serve, update, the API).

Process, files and output:

- :mod:`rasign.errors`: the one error hierarchy, each class with its exit code (standard library only);
- :mod:`rasign.logs`: logging to stderr with secrets scrubbed at every level;
- :mod:`rasign.textsafe`: making outside text safe for a terminal or a log (standard library only);
- :mod:`rasign.fsafe`: the one way rasign writes files (planted links, odd targets, torn writes);
- :mod:`rasign.hardening`: no ptrace, no core files, no PINs in the environment for long-lived commands;
- :mod:`rasign.lifecycle`: stop and reload (SIGTERM, SIGINT, SIGHUP) for long-running commands;
- :mod:`rasign.waker`: wakes and stops the serve and agent event loops (one serve_forever for both);
- :mod:`rasign.clock`: the one seam for time, so tests drive a fake clock instead of sleeping.
"""

__version__ = "0.1.0"
