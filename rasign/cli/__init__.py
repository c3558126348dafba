"""The ``rasign`` command line: parse, dispatch to one command, turn errors into exit codes.

Start-up cost is a feature (``credential-process`` runs for every AWS CLI call): only the
invoked command's module is imported, and nothing here imports ``cryptography``, ``ssl``,
the HTTPS client or a backend at the top.

Modules:

- :mod:`rasign.cli.main`: the entry point and the :data:`~rasign.cli.main.COMMANDS` table
  (command name, module, summary);
- :mod:`rasign.cli.parser`: the argparse subclass with the Go helper's parsing rules (no prefix
  matching, Go booleans, one-line errors);
- :mod:`rasign.cli.flags`: the flags shared by the commands, generated from the options'
  field metadata and named like the Go helper's;
- :mod:`rasign.cli.helptext`: per-command synopsis, description and examples, in one table
  (help, man page, completions and docs read it);
- :mod:`rasign.cli.help_command`: ``rasign help [COMMAND]``;
- :mod:`rasign.cli.completion`: ``rasign completion``: static shell completion scripts;
- :mod:`rasign.cli.manpage`: the rasign(1) man page generated from the parser;
- :mod:`rasign.cli.mistakes`: naming the usual ``credential_process`` line mistakes (standard
  library only: checked before anything else runs);
- :mod:`rasign.cli.argv_secrets`: the warning for a secret on the command line (names the flag,
  never the secret).
"""
