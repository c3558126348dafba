"""One module per ``rasign`` command, each with ``configure(parser)`` and ``run(args) -> int``.

:mod:`rasign.cli.main` imports only the module of the command that runs, so a module here
imports its heavy dependencies (``cryptography``, the HTTPS client, a backend through
:mod:`rasign.registry`) inside ``run``, never at the top. Summaries live in
:data:`rasign.cli.main.COMMANDS`, help texts in :mod:`rasign.cli.helptext`.

Modules:

- :mod:`rasign.commands.credential_process`: ``credential-process``: the JSON for the SDKs'
  ``credential_process`` (stdout carries only that; a cache hit imports no ``cryptography``,
  ``ssl`` or HTTPS client);
- :mod:`rasign.commands.serve`: ``serve``: credentials over IMDSv2, ECS or a unix socket;
- :mod:`rasign.commands.update`: ``update``: keep a profile in the shared credentials file fresh;
- :mod:`rasign.commands.exec`: ``exec``: run a command with credentials (environment or a private endpoint);
- :mod:`rasign.commands.export`: ``export``: credentials as sh, fish, PowerShell or JSON assignments;
- :mod:`rasign.commands.sign_string`: ``sign-string``: sign the Go helper's fixed test message;
- :mod:`rasign.commands.read_certificate_data`: ``read-certificate-data``: describe a certificate
  or list matching identities;
- :mod:`rasign.commands.agent`: ``agent``: run the per-user agent, or ask the running one;
- :mod:`rasign.commands.identities`: ``identities``: list the named identities (and validate the file);
- :mod:`rasign.commands.configure`: ``configure``: write a ``[profile NAME]`` with a
  ``credential_process`` line into ~/.aws/config;
- :mod:`rasign.commands.doctor`: ``doctor``: one line per preflight check, each failure with its fix;
- :mod:`rasign.commands.emulator`: ``emulator``: run the local Roles Anywhere + STS emulator;
- :mod:`rasign.commands.demo`: ``demo``: the whole flow on this machine, no AWS account needed;
- :mod:`rasign.commands.version`: ``version``: print the version.

``help`` and ``completion`` live in :mod:`rasign.cli` (they describe the parser).
"""
