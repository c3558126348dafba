"""``completion``: the generated scripts run in the real shells and complete real flags.

bash and fish complete a command line for real (bash calls the function the way
``complete -F`` does; fish has ``complete -C``). zsh runs the script with ``_arguments`` and
``_describe`` recording what they were given. PowerShell is not on the test machine: its
script is checked for every command and flag.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from rasign.cli.completion import describe, script
from rasign.cli.main import build_parser

ROOT = build_parser()
COMMANDS = describe(ROOT)


def bash_complete(script_text: str, prog: str, *words: str) -> list[str]:
    fn = "_" + prog + "_complete"
    quoted = " ".join(f"'{w}'" for w in (prog, *words))
    call = f"COMP_WORDS=({quoted}); COMP_CWORD={len(words)}; {fn}"
    program = f"{script_text}\n{call}; printf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def bash_script():
    return script("bash", ROOT, "rasign")


def test_bash_commands(bash_script):
    assert bash_complete(bash_script, "rasign", "cred") == ["credential-process"]
    assert set(bash_complete(bash_script, "rasign", "")) >= {"serve", "update", "help", "completion", "--version"}


def test_bash_flags_choices_and_files(bash_script, tmp_path):
    assert bash_complete(bash_script, "rasign", "sign-string", "--form") == ["--format"]
    assert bash_complete(bash_script, "rasign", "sign-string", "--format", "") == ["json", "text", "bin"]
    assert bash_complete(bash_script, "rasign", "completion", "") == ["bash", "zsh", "fish", "powershell"]
    assert "credential-process" in bash_complete(bash_script, "rasign", "help", "")
    assert bash_complete(bash_script, "rasign", "credential-process", "--role-arn", "") == []
    (tmp_path / "client-cert.pem").write_text("x")
    files = bash_complete(bash_script, "rasign", "credential-process", "--certificate", f"{tmp_path}/client")
    assert files == [f"{tmp_path}/client-cert.pem"]
    # read-certificate-data offers only its own flags
    offered = bash_complete(bash_script, "rasign", "read-certificate-data", "--")
    assert "--cert-selector" in offered and "--tpm-key-password" not in offered


def test_bash_every_flag_of_every_command(bash_script):
    for command in COMMANDS:
        offered = set(bash_complete(bash_script, "rasign", command.name, "--"))
        expected = {name for flag in command.flags for name in flag.names if name.startswith("--")}
        assert offered == expected, command.name


def test_bash_under_the_go_name():
    text = script("bash", build_parser("aws_signing_helper"), "aws_signing_helper")
    assert "complete -o default -F _aws_signing_helper_complete aws_signing_helper" in text
    assert bash_complete(text, "aws_signing_helper", "read-cert") == ["read-certificate-data"]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish not installed (scripts/bootstrap.sh installs it)")
def test_fish_completes(tmp_path):
    path = tmp_path / "rasign.fish"
    path.write_text(script("fish", ROOT, "rasign"))
    program = (
        f"source {path}; complete -C 'rasign cred'; echo ---; complete -C 'rasign sign-string --dig'; echo ---;"
        " complete -C 'rasign sign-string --digest '"
    )
    done = subprocess.run(["fish", "--no-config", "-c", program], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    first, second, third = (part.strip().splitlines() for part in done.stdout.split("---"))
    assert [line.split("\t")[0] for line in first] == ["credential-process"]
    assert [line.split("\t")[0] for line in second] == ["--digest"]
    assert sorted(line.split("\t")[0] for line in third) == ["SHA256", "SHA384", "SHA512"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh not installed (scripts/bootstrap.sh installs it)")
def test_zsh_runs_and_passes_the_specs(tmp_path):
    path = tmp_path / "_rasign"
    path.write_text(script("zsh", ROOT, "rasign"))
    assert subprocess.run(["zsh", "-n", str(path)], timeout=30).returncode == 0
    program = (
        'compdef() { print -r -- "compdef $*" }\n'
        '_describe() { print -rl -- "describe $3" "${(@P)4}" }\n'
        '_arguments() { print -rl -- "$@" }\n'
        f"source {path}\n"
        "words=(rasign ''); CURRENT=2; _rasign_complete\n"
        "print -r -- ---\n"
        "words=(rasign sign-string --f); CURRENT=3; _rasign_complete\n"
    )
    done = subprocess.run(["zsh", "-f", "-c", program], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    top, specs = done.stdout.split("---\n")
    assert top.startswith("compdef _rasign_complete rasign\ndescribe rasign command")
    assert "credential-process:print temporary credentials as credential_process JSON" in top
    lines = specs.splitlines()
    assert "--format[output: hex in a JSON string, hex, or raw bytes]:format:(json text bin)" in lines
    assert "--digest[digest to sign with]:digest:(SHA256 SHA384 SHA512)" in lines
    assert not any(line.startswith("--intermediates") for line in lines)


def test_powershell_names_every_command_and_flag():
    text = script("powershell", ROOT, "rasign")
    assert text.startswith("# PowerShell completion for rasign")
    assert "Register-ArgumentCompleter -Native -CommandName 'rasign'" in text
    for command in COMMANDS:
        line = next(row for row in text.splitlines() if row.strip().startswith(f"'{command.name}' = @("))
        for flag in command.flags:
            for name in flag.names:
                assert f"'{name}'" in line, (command.name, name)


def test_completion_command_prints_the_script(capsys):
    from rasign.cli.main import main

    assert main(["completion", "bash"], prog="rasign") == 0
    assert capsys.readouterr().out == script("bash", build_parser("rasign"), "rasign")
    assert main(["completion", "tcsh"], prog="rasign") == 2
    assert "invalid choice: 'tcsh'" in capsys.readouterr().err


def test_no_descriptions(capsys):
    from rasign.cli.main import main

    assert main(["completion", "fish", "--no-descriptions"], prog="rasign") == 0
    text = capsys.readouterr().out
    assert " -d " not in text and "-l certificate" in text


def test_bash_sources_the_command_output():
    import sys

    from tests.conftest import clean_env

    program = (
        'source <("$PY" -m rasign completion bash)\n'
        "COMP_WORDS=(rasign update --on); COMP_CWORD=2; _rasign_complete\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**clean_env(), "PY": sys.executable}
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["--once"]
