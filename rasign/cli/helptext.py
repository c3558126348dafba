"""Per-command help in one table: synopsis, description, examples, required flags, pruning.

Why one table: the help, the man page, the shell completions and docs/compatibility.md all
describe the same commands. Keeping the words here, next to the parser, instead of in each
command module means one place to edit and one place that tests read. Commands' modules
keep only what they must: their flags (``configure``) and their behaviour (``run``).

``drop`` lists shared flags that a command's ``configure`` adds (through the shared flag
helpers) but that have no meaning for it; they are removed from its parser, so they are
neither shown in its help nor accepted (the Go helper does not accept them either).
"""

from __future__ import annotations

import argparse
from typing import NamedTuple

ARNS = ("--trust-anchor-arn", "--profile-arn", "--role-arn")
_EXAMPLE_ARNS = (
    "--trust-anchor-arn arn:aws:rolesanywhere:eu-west-1:111122223333:trust-anchor/TA \\\n"
    "      --profile-arn arn:aws:rolesanywhere:eu-west-1:111122223333:profile/P \\\n"
    "      --role-arn arn:aws:iam::111122223333:role/R"
)
_SOURCES = "--certificate PATH|URI --private-key PATH|URI | --cert-selector SELECTOR"


class CommandHelp(NamedTuple):
    """What ``PROG COMMAND --help`` shows besides the flags."""

    synopsis: str
    """Usage line after ``PROG COMMAND``; required flags unbracketed."""
    description: str
    examples: tuple[tuple[str, str], ...] = ()
    """(what it does, command line with ``{prog}``)."""
    required: tuple[str, ...] = ()
    """Flags the command cannot work without (checked at run time, marked in help)."""
    drop: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


HELP: dict[str, CommandHelp] = {
    "credential-process": CommandHelp(
        synopsis=f"({_SOURCES}) --trust-anchor-arn ARN --profile-arn ARN --role-arn ARN [options]",
        description=(
            "Print temporary AWS credentials as the credential_process JSON on stdout (and nothing\n"
            "else), for the AWS CLI and SDKs. Diagnostics go to stderr."
        ),
        examples=(
            (
                "certificate and key in files",
                "{prog} credential-process --certificate /etc/pki/me.pem --private-key /etc/pki/me.key \\\n      "
                + _EXAMPLE_ARNS,
            ),
            (
                "key on a token, PIN from a file, credentials cached between calls",
                "{prog} credential-process --certificate 'pkcs11:token=ra;object=me' \\\n"
                "      --pkcs11-pin-file /run/user/1000/ra.pin --cache \\\n      " + _EXAMPLE_ARNS,
            ),
        ),
        required=ARNS,
        notes=(
            "In ~/.aws/config write the command on one line (no backslash continuations) with absolute\n"
            "paths: the AWS CLI runs it without a shell (no ~ expansion), from whatever directory it\n"
            "was started in.",
        ),
    ),
    "serve": CommandHelp(
        synopsis=f"({_SOURCES}) --trust-anchor-arn ARN --profile-arn ARN --role-arn ARN [options]",
        description=(
            "Serve credentials to SDKs over an IMDSv2-compatible endpoint on loopback (and optionally\n"
            "ECS-style or on a unix socket), refreshed in the background before they expire."
        ),
        examples=(
            (
                "IMDSv2 endpoint on 127.0.0.1:9911",
                "{prog} serve --certificate /etc/pki/me.pem --private-key /etc/pki/me.key \\\n      " + _EXAMPLE_ARNS,
            ),
            (
                "ECS-style endpoint on a free port; addresses written to a file for scripts",
                "{prog} serve --port 0 --ecs --ready-file /run/ra/ready.json --certificate /etc/pki/me.pem \\\n"
                "      --private-key /etc/pki/me.key " + _EXAMPLE_ARNS,
            ),
        ),
        required=ARNS,
    ),
    "update": CommandHelp(
        synopsis=f"({_SOURCES}) --trust-anchor-arn ARN --profile-arn ARN --role-arn ARN [options]",
        description=(
            "Write credentials into a profile of the shared credentials file (atomically, under a\n"
            "lock) and keep them fresh until stopped; --once writes once and exits."
        ),
        examples=(
            (
                "write profile 'ra' once",
                "{prog} update --once --profile ra --certificate /etc/pki/me.pem --private-key /etc/pki/me.key \\\n      "
                + _EXAMPLE_ARNS,
            ),
        ),
        required=ARNS,
    ),
    "sign-string": CommandHelp(
        synopsis=f"({_SOURCES}) [--format json|text|bin] [--digest SHA256|SHA384|SHA512] [options]",
        description=(
            "Sign the Go helper's fixed test message with the configured key, to check that the key\n"
            "works (no network, no AWS account)."
        ),
        examples=(
            (
                "hex signature of a file key",
                "{prog} sign-string --certificate me.pem --private-key me.key --format text",
            ),
            ("a token key, SHA-384", "{prog} sign-string --certificate 'pkcs11:token=ra;object=me' --digest SHA384"),
        ),
        drop=("--intermediates",),
    ),
    "read-certificate-data": CommandHelp(
        synopsis="(--certificate PATH|URI | --cert-selector SELECTOR | --cert-store DIR) [--json] [options]",
        description=(
            "Print a certificate file's data as JSON, or list the identities a pkcs11: URI,\n"
            "--cert-selector or --cert-store matches (with ready-to-paste URIs and selectors)."
        ),
        examples=(
            ("describe a certificate file", "{prog} read-certificate-data --certificate me.pem"),
            (
                "list the certificates on a token",
                "{prog} read-certificate-data --certificate pkcs11: --pkcs11-lib /usr/lib/softhsm/libsofthsm2.so",
            ),
        ),
        drop=(
            "--private-key",
            "--intermediates",
            "--reuse-pin",
            "--use-latest-expiring-certificate",
            "--pkcs11-context-pin-file",
            "--pkcs11-context-pin-env",
            "--tpm-key-password",
            "--no-tpm-key-password",
            "--tpm-parent-password",
            "--tpm-tcti",
            "--tpm-pcrs",
        ),
    ),
    # On main since the agent work; listed here so the merged CLI has its help from day one.
    "agent": CommandHelp(
        synopsis="[run|status|lock|stop] [options]",
        description=(
            "Run the per-user agent that keeps unlocked keys for the login session, so credential-process\n"
            "asks for a PIN once; or ask the running agent for its status, to lock, or to stop."
        ),
        examples=(
            ("start it in the background, like ssh-agent", 'eval "$({prog} agent --daemon)"'),
            ("what it holds (never a secret)", "{prog} agent status --json"),
        ),
    ),
    # Issue 12 (named identities): docs/identities.md, docs/exec.md, docs/doctor.md.
    "identities": CommandHelp(
        synopsis="[--json] [--config FILE]",
        description=(
            "List the named identities of the identities file ($RASIGN_CONFIG, else\n"
            "~/.config/rasign/config.toml); loading checks the whole file, with file and line on errors."
        ),
        examples=(("list them", "{prog} identities"), ("for scripts", "{prog} identities --json")),
    ),
    "exec": CommandHelp(
        synopsis="[--identity NAME | flags] [--server] [--allow-nested] -- COMMAND [ARGS...]",
        description=(
            "Run COMMAND with credentials in its environment (rasign becomes the command), or with\n"
            "--server a private loopback endpoint that keeps a long-running command's credentials fresh."
        ),
        examples=(
            ("one AWS CLI call", "{prog} exec --identity prod -- aws s3 ls"),
            ("a long job, credentials refreshed", "{prog} exec --server --identity prod -- ./nightly-backup.sh"),
        ),
    ),
    "export": CommandHelp(
        synopsis="[--identity NAME | flags] [--format sh|fish|powershell|json]",
        description="Print the credentials as shell assignments (quoted for that shell) or JSON on stdout.",
        examples=(
            ("into this sh/bash/zsh", 'eval "$({prog} export --identity prod)"'),
            ("for PowerShell (pipe it to Invoke-Expression)", "{prog} export --identity prod --format powershell"),
        ),
    ),
    "configure": CommandHelp(
        synopsis="(--identity NAME | --all) [--profile NAME] [--config-file PATH] [--print]",
        description=(
            "Write [profile NAME] with a short credential_process line (rasign's absolute path and\n"
            "--identity NAME) and the region into ~/.aws/config, keeping every other byte; idempotent."
        ),
        examples=(
            ("one profile", "{prog} configure --identity prod"),
            ("show what would be written for every identity", "{prog} configure --all --print"),
        ),
    ),
    "doctor": CommandHelp(
        synopsis="[--identity NAME | flags] [--trust-anchor-pem PATH] [--live] [--offline] [--json]",
        description=(
            "Check a set-up before CreateSession fails: certificate, chain, key, ARNs, PKCS#11/TPM\n"
            "reachability, endpoint DNS/TCP/TLS, proxy and clock; one line per check with its fix."
        ),
        examples=(
            ("check a named identity", "{prog} doctor --identity prod"),
            (
                "validate the chain and try one real CreateSession",
                "{prog} doctor --identity prod --trust-anchor-pem ca.pem --live",
            ),
        ),
    ),
    "emulator": CommandHelp(
        synopsis="(--trust-anchor CA.pem... | --demo-identity) [options]",
        description=(
            "Run a local Roles Anywhere + STS emulator on 127.0.0.1 that verifies signatures for real.\n"
            "Prints one line of JSON (endpoint, CA bundle, ARNs) on stdout, then serves until stopped."
        ),
        examples=(
            (
                "trust your own CA, write emulator.json for scripts",
                "{prog} emulator --trust-anchor my-ca.pem --state-dir /tmp/ra-emu",
            ),
            ("also make a throw-away client identity", "{prog} emulator --demo-identity --port 8443"),
        ),
    ),
    "demo": CommandHelp(
        synopsis="[options]",
        description="Run the whole flow on this machine against the local emulator; no AWS account needed.",
        examples=(("run it", "{prog} demo"),),
    ),
    "version": CommandHelp(
        synopsis="",
        description="Print the version.",
        examples=(("print it", "{prog} version"),),
    ),
    "help": CommandHelp(
        synopsis="[COMMAND]",
        description="Show the help of the program or of one command (the same as COMMAND --help).",
        examples=(("help of credential-process", "{prog} help credential-process"),),
    ),
    "completion": CommandHelp(
        synopsis="bash|zsh|fish|powershell",
        description="Print a shell completion script for the program, generated from its flags.",
        examples=(
            ("bash, for this shell", "source <({prog} completion bash)"),
            ("zsh, installed", '{prog} completion zsh > "${{fpath[1]}}/_{prog}"'),
        ),
    ),
}


def apply(name: str, parser: argparse.ArgumentParser, root_prog: str) -> None:
    """Give ``parser`` (command ``name``, already configured) its usage, text and pruning."""
    entry = HELP.get(name)
    if entry is None:
        return
    for option in entry.drop:
        drop_option(parser, option)
    for action in parser._actions:
        if any(option in entry.required for option in action.option_strings) and action.help:
            if "required" not in action.help:
                action.help = f"{action.help} (required)"
    parser.usage = f"{root_prog} {name} {entry.synopsis}".rstrip().replace("%", "%%")
    parser.description = entry.description
    parser.epilog = epilog(name, root_prog)


def epilog(name: str, root_prog: str) -> str:
    """Examples and notes of ``name`` for the end of its help."""
    entry = HELP[name]
    lines: list[str] = []
    if entry.examples:
        lines.append("examples:")
        for what, command in entry.examples:
            lines.append(f"  # {what}")
            lines.append("  " + command.format(prog=root_prog))
    for note in entry.notes:
        lines.extend(["", note])
    return "\n".join(lines)


def drop_option(parser: argparse.ArgumentParser, option: str) -> None:
    """Remove the flag ``option`` (and its aliases) from ``parser`` if present."""
    action = parser._option_string_actions.get(option)
    if action is None:
        return
    parser._remove_action(action)
    for group in parser._action_groups:
        if action in group._group_actions:
            group._group_actions.remove(action)
    for text in action.option_strings:
        parser._option_string_actions.pop(text, None)
