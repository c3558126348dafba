"""Building blocks for the case tables: a valid command line with one part swapped out."""

from __future__ import annotations

from tests.badinput.harness import Case

USAGE, CONFIG, KEYLOAD, CERT, AUTH, UNAVAILABLE, SIGNING, NETWORK, SERVICE, DENIED, THROTTLED, STORE = (
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    13,
)

_DEFAULTS = {
    "certificate": "{cert}",
    "private-key": "{key}",
    "trust-anchor-arn": "{ta}",
    "profile-arn": "{pr}",
    "role-arn": "{ro}",
    "endpoint": "{ep}",
    "ca-bundle": "{ca}",
}
_SIGNER = ("certificate", "private-key")


def argv(command: str = "credential-process", *extra: str, **swap: str | None) -> tuple[str, ...]:
    """A working command line for ``command`` with the flags in ``swap`` replaced (None drops one).

    Keyword names use ``_`` for ``-`` (``private_key="{garbage}"``).
    """
    keep = {"sign-string": _SIGNER, "read-certificate-data": ("certificate",)}.get(command, tuple(_DEFAULTS))
    values = {name: value for name, value in _DEFAULTS.items() if name in keep}
    for name, value in swap.items():
        values[name.replace("_", "-")] = value
    args: list[str] = [command]
    for name, value in values.items():
        if value is not None:
            args += [f"--{name}", value]
    if command == "credential-process" and "--cache" not in extra:
        args.append("--no-cache")
    return (*args, *extra)


def case(
    id: str,
    code: int,
    says: str,
    *args: str,
    command: str = "credential-process",
    env: dict[str, str] | None = None,
    local: bool = True,
    own_process: bool = False,
    stdin: str | None = None,
    **swap: str | None,
) -> Case:
    """A :class:`Case` for ``command`` with a valid command line but for ``swap`` and ``args``."""
    return Case(
        id=id,
        argv=argv(command, *args, **swap),
        code=code,
        says=says,
        env=dict(env or {}),
        local=local,
        own_process=own_process,
        stdin=stdin,
    )


def raw(
    id: str,
    code: int,
    says: str,
    *args: str,
    env: dict[str, str] | None = None,
    local: bool = True,
    own_process: bool = False,
) -> Case:
    """A :class:`Case` with exactly ``args`` as the command line."""
    return Case(
        id=id, argv=tuple(args), code=code, says=says, env=dict(env or {}), local=local, own_process=own_process
    )
