"""Named identities: a TOML file of ``[identity.NAME]`` tables that stand in for long command lines.

A working command line moves into the file unchanged: every key is a long flag's name without
the dashes (``certificate``, ``private-key``, ``trust-anchor-arn``, ``session-duration``, ...),
``--identity NAME`` selects a table, and flags given on the command line still win, because
the file's values become the parser's *defaults* and the command line is parsed again.

The file is found at ``$RASIGN_CONFIG``, else ``$XDG_CONFIG_HOME/rasign/config.toml``
(``~/.config`` by default; ``%APPDATA%`` on Windows, ``~/Library/Application Support`` on
macOS). Relative paths in it are relative to the file's directory, so a config directory
can be moved whole.

Why the checks are strict: a typo in a key would otherwise silently fall back to a default
(the wrong role, no PIN file), so unknown keys, wrong types and bad values are one-line
errors naming the file, the line and the key. A secret written inline (a PKCS#8 or TPM
password, a ``pin-value`` in a ``pkcs11:`` URI) is refused unless the file is readable by
its owner only.

Cost: nothing here is imported beyond :func:`add_identity_flags` and :func:`apply_identity`
unless ``--identity`` is used; the TOML parser is imported only then.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rasign.errors import ConfigError

if TYPE_CHECKING:
    import argparse

CONFIG_ENV = "RASIGN_CONFIG"
MAX_CONFIG_BYTES = 4 << 20
"""An identities file is a few kilobytes; anything past this is not one."""
IDENTITY_ENV = "RASIGN_IDENTITY"

_KIND_OF_MAPPING = {"true": "bool", "inverted": "bool", "pairs": "pairs"}
_KIND_OF_TYPE = {"int": "int", "float": "float"}


def _option_keys() -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]], frozenset[str]]:
    """(flag keys, key -> (option field, mapping), secret keys) from the options' field metadata.

    Generated so that a new option field is a new key here too: kinds come from the flag's
    mapping and the field's type unless the field names one (``path``, ``keypath``, ...).
    """
    import dataclasses

    from rasign.options import SessionOptions, SignerOptions, flag_of

    keys: dict[str, tuple[str, str]] = {}
    fields_of: dict[str, tuple[str, str]] = {}
    secrets: set[str] = set()
    for options_class in (SignerOptions, SessionOptions):
        for item in dataclasses.fields(options_class):
            spec = flag_of(item)
            if spec is None:
                continue
            key = spec.names[0].lstrip("-")
            kind = spec.config or _KIND_OF_MAPPING.get(spec.maps) or _KIND_OF_TYPE.get(str(item.type), "str")
            keys[key] = (kind, spec.dest)
            fields_of[key] = (item.name, spec.maps)
            if item.metadata.get("cache") == "secret":
                secrets.add(key)
    keys["cache"] = ("bool", "cache")
    return keys, fields_of, frozenset(secrets)


# key -> (kind, argparse dest). Kinds: str, path, keypath, libpath, template, bool, int, float, pairs.
FLAG_KEYS, _OPTION_FIELDS, SECRET_KEYS = _option_keys()
"""Keys that are flags: the value becomes the flag's default for the chosen identity. Every
option field's flag (rasign.options) plus ``cache``; ``SECRET_KEYS`` are the fields whose cache
decision is ``secret`` (refused inline in a file others can read)."""

OTHER_KEYS: dict[str, str] = {
    "description": "str",
    "sts-endpoint": "str",
    "chain": "chain",
}
"""Keys that are not flags: a description for ``rasign identities`` and the role chain."""

CHAIN_KEYS: dict[str, str] = {
    "role-arn": "str",
    "external-id": "str",
    "role-session-name": "template",
    "source-identity": "str",
    "duration": "int",
    "tags": "table",
    "transitive-tag-keys": "strlist",
    "region": "str",
    "sts-endpoint": "str",
}
"""Keys of one ``[[identity.NAME.chain]]`` step (an ``sts:AssumeRole`` after CreateSession)."""

_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


@dataclass(frozen=True)
class ChainStep:
    """One ``sts:AssumeRole`` to run with the previous step's credentials."""

    role_arn: str
    external_id: str | None = None
    role_session_name: str | None = None
    source_identity: str | None = None
    duration: int | None = None
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    region: str | None = None
    sts_endpoint: str | None = None

    def cache_text(self) -> str:
        """Everything that changes the answer, for the credential cache key."""
        return repr(
            (
                self.role_arn,
                self.external_id,
                self.role_session_name,
                self.source_identity,
                self.duration,
                self.tags,
                self.transitive_tag_keys,
                self.region,
                self.sts_endpoint,
            )
        )


@dataclass
class Identity:
    """One validated ``[identity.NAME]`` table."""

    name: str
    path: str
    line: int
    values: dict[str, Any] = field(default_factory=dict)
    """Flag keys with their checked values (paths already absolute)."""
    description: str = ""
    sts_endpoint: str | None = None
    chain: list[ChainStep] = field(default_factory=list)

    def defaults(self) -> dict[str, Any]:
        """The argparse defaults this identity stands for (dest -> value)."""
        result: dict[str, Any] = {}
        for key, value in self.values.items():
            kind, dest = FLAG_KEYS[key]
            if kind == "pairs":
                value = [f"{k}={v}" for k, v in value.items()]
            result[dest] = value
        return result

    def summary(self) -> dict[str, Any]:
        """What ``rasign identities --json`` shows: no secrets, only where things are."""
        values = self.values
        key_source = values.get("private-key") or values.get("cert-selector") or values.get("certificate")
        return {
            "name": self.name,
            "description": self.description,
            "role_arn": self.values.get("role-arn", ""),
            "profile_arn": self.values.get("profile-arn", ""),
            "trust_anchor_arn": self.values.get("trust-anchor-arn", ""),
            "region": self.values.get("region"),
            "key": _strip_pin_value(str(key_source)) if key_source else None,
            "chain": [step.role_arn for step in self.chain],
            "file": self.path,
            "line": self.line,
        }


# --------------------------------------------------------------------------- location


def config_path(environ: dict[str, str] | None = None, platform: str | None = None) -> str:
    """Where the identities file is: ``$RASIGN_CONFIG``, else the platform's config directory."""
    env = os.environ if environ is None else environ
    explicit = env.get(CONFIG_ENV)
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    platform = platform or sys.platform
    xdg = env.get("XDG_CONFIG_HOME")
    if platform == "win32" and not xdg:
        base = env.get("APPDATA") or os.path.join(os.path.expanduser("~"), "AppData", "Roaming")
    elif platform == "darwin" and not xdg:
        base = os.path.join(os.path.expanduser("~"), "Library", "Application Support")
    else:
        base = xdg or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "rasign", "config.toml")


# --------------------------------------------------------------------------- loading


def _fail(path: str, line: int, message: str, hint: str | None = None) -> ConfigError:
    where = f"{path}:{line}" if line else path
    return ConfigError(f"{where}: {message}", hint=hint)


_HEADER = re.compile(r"^\s*(\[\[?)\s*(?P<name>[^\]#]+?)\s*\]\]?\s*(#.*)?$")
_KEY_LINE = re.compile(r"""^\s*(?P<key>"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")


def _header_parts(text: str) -> tuple[str, ...]:
    parts = re.findall(r'"[^"]*"|\'[^\']*\'|[^.\s]+', text)
    return tuple(part.strip("\"'") for part in parts)


def _line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Line numbers of tables and keys: (table parts..., [chain index,] key) -> line.

    tomllib gives no positions, and an error without a line makes the user hunt. This scan
    covers what people write by hand (headers and ``key =`` lines); anything cleverer
    (inline tables, dotted keys) falls back to the table's line.
    """
    index: dict[tuple[Any, ...], int] = {}
    table: tuple[Any, ...] = ()
    arrays: dict[tuple[str, ...], int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header and not _KEY_LINE.match(line):
            parts = _header_parts(header["name"])
            if line.lstrip().startswith("[["):
                count = arrays.get(parts, -1) + 1
                arrays[parts] = count
                table = (*parts, count)
            else:
                table = parts
            index.setdefault(table, number)
            continue
        key = _KEY_LINE.match(line)
        if key:
            index.setdefault((*table, key["key"].strip("\"'")), number)
    return index


def _parse_toml(text: str, path: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
    try:
        document: dict[str, Any] = tomllib.loads(text)
        return document
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        match = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line = int(match.group(1)) if match else 0
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", message) or "invalid TOML"
        raise _fail(path, line, f"not valid TOML: {message}", hint="fix the TOML syntax at that line") from None


def read_config(path: str) -> tuple[str, bool]:
    """The file's text and whether anyone but its owner may read it.

    A file someone else can write is refused: they could point an identity at their own
    endpoint or PIN file.
    """
    from rasign.localfile import NotReadable, read_regular_with_status

    if not os.path.lexists(path):
        raise ConfigError(
            f"no identities file at {path}",
            hint=f"create it (see docs/identities.md) or set {CONFIG_ENV} to its path",
        )
    try:
        # Checked on the open descriptor before reading: /dev/zero or a FIFO must not hang us.
        data, info = read_regular_with_status(path, limit=MAX_CONFIG_BYTES)
    except NotReadable as err:
        raise ConfigError(f"cannot read the identities file {path}: {err.reason}") from None
    readable_by_others = False
    if os.name == "posix":
        if info.st_mode & 0o022:
            raise ConfigError(
                f"{path} is writable by group or others; refusing to use it",
                hint=f"run: chmod go-w {path}",
            )
        readable_by_others = bool(info.st_mode & 0o044)
    try:
        return data.decode("utf-8"), readable_by_others
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not UTF-8 text (byte {err.start})") from None


def load_identities(path: str | None = None) -> dict[str, Identity]:
    """Read and validate every identity in the file (all of them: a broken one fails early).

    ``credential-process`` runs for every AWS CLI call, so the validated result of a file
    without inline secrets is kept in the private cache directory, keyed by the file's exact
    content: an unchanged file costs one read and a JSON load instead of the TOML parser.
    """
    path = path or config_path()
    text, readable_by_others = read_config(path)
    key = _compiled_key(path, text, readable_by_others)
    compiled = _load_compiled(path, key)
    if compiled is not None:
        return compiled
    result = _load_text(path, text, readable_by_others)
    _store_compiled(path, key, result)
    return result


def _load_text(path: str, text: str, readable_by_others: bool) -> dict[str, Identity]:
    document = _parse_toml(text, path)
    lines = _line_index(text)
    base = os.path.dirname(path)
    for top in document:
        if top != "identity":
            raise _fail(
                path,
                lines.get((top,), 0),
                f"unknown table or key {top!r}",
                hint="identities go in [identity.NAME] tables",
            )
    tables = document.get("identity", {})
    if not isinstance(tables, dict):
        raise _fail(path, lines.get(("identity",), 0), "'identity' must be a table of [identity.NAME] tables")
    result: dict[str, Identity] = {}
    for name, table in tables.items():
        line = lines.get(("identity", name), 0)
        if not _NAME.match(name):
            raise _fail(path, line, f"invalid identity name {name!r}", hint="use 1-64 letters, digits and ._@-")
        if not isinstance(table, dict):
            raise _fail(path, line, f"identity {name!r} must be a table ([identity.{name}])")
        result[name] = _identity(name, table, path, line, lines, base, readable_by_others)
    return result


# --------------------------------------------------------------------------- compiled copies

COMPILED_FORMAT = 1
COMPILED_SUFFIX = ".identities"
"""Not ``.json``: the credential cache's purge removes every ``.json`` without an expiration."""


def _compiled_key(path: str, text: str, readable_by_others: bool) -> str:
    import hashlib

    from rasign import __version__

    # Everything the validated result depends on: the bytes, where relative paths and ~ point, the mode.
    material = "\0".join(
        [str(COMPILED_FORMAT), __version__, path, os.path.expanduser("~"), str(readable_by_others), text]
    )
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()


def _compiled_file(path: str, key: str) -> str:
    import hashlib

    stem = hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    from rasign.cachedir import cache_dir

    return os.path.join(cache_dir(), f"{stem}-{key[:32]}{COMPILED_SUFFIX}")


def _private(info: os.stat_result, directory: bool) -> bool:
    """Ours and closed to everyone else: only then is a compiled copy trusted (or written)."""
    import stat

    if os.name != "posix" or info.st_uid != os.geteuid() or info.st_mode & (0o022 if directory else 0o077):
        return False
    return stat.S_ISDIR(info.st_mode) if directory else stat.S_ISREG(info.st_mode)


def _load_compiled(path: str, key: str) -> dict[str, Identity] | None:
    import json

    target = _compiled_file(path, key)
    try:
        if not _private(os.lstat(os.path.dirname(target)), True):
            return None
        handle = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(handle, "rb") as stream:
        if not _private(os.fstat(stream.fileno()), False):
            return None
        data = stream.read()
    try:
        document = json.loads(data)
        if document.get("key") != key:
            return None
        return {name: _identity_from_json(entry) for name, entry in document["identities"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _identity_from_json(entry: dict[str, Any]) -> Identity:
    steps = [
        ChainStep(
            **{
                **step,
                "tags": tuple(tuple(pair) for pair in step["tags"]),
                "transitive_tag_keys": tuple(step["transitive_tag_keys"]),
            }
        )
        for step in entry["chain"]
    ]
    return Identity(
        name=entry["name"],
        path=entry["path"],
        line=entry["line"],
        values=dict(entry["values"]),
        description=entry["description"],
        sts_endpoint=entry["sts_endpoint"],
        chain=steps,
    )


def _holds_secret(identities: dict[str, Identity]) -> bool:
    return any(
        key in SECRET_KEYS or (isinstance(value, str) and _has_pin_value(value))
        for identity in identities.values()
        for key, value in identity.values.items()
    )


def _store_compiled(path: str, key: str, identities: dict[str, Identity]) -> None:
    """Best effort: a file with inline secrets is never copied, and any failure just skips the copy."""
    if os.name != "posix" or _holds_secret(identities):
        return
    import json
    import tempfile
    from dataclasses import asdict

    target = _compiled_file(path, key)
    directory = os.path.dirname(target)
    temporary = None
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not _private(os.lstat(directory), True):
            return
        document = {"key": key, "identities": {name: asdict(identity) for name, identity in identities.items()}}
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".identities-", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream)
        os.replace(temporary, target)
        temporary = None
        stem = os.path.basename(target).split("-", 1)[0] + "-"
        for name in os.listdir(directory):  # older copies of the same file
            if name.startswith(stem) and name.endswith(COMPILED_SUFFIX) and name != os.path.basename(target):
                os.unlink(os.path.join(directory, name))
    except (OSError, TypeError, ValueError):
        return
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _identity(
    name: str,
    table: dict[str, Any],
    path: str,
    line: int,
    lines: dict[tuple[Any, ...], int],
    base: str,
    readable_by_others: bool,
) -> Identity:
    identity = Identity(name=name, path=path, line=line)
    for key, value in table.items():
        where = lines.get(("identity", name, key), line)
        if key in FLAG_KEYS:
            kind = FLAG_KEYS[key][0]
            checked = _check_value(value, kind, f"identity {name!r}: key {key!r}", path, where)
            problem = _bad_value(key, checked)
            if problem:
                raise _fail(path, where, f"identity {name!r}: key {key!r} {problem}")
            if kind in ("path", "keypath", "libpath"):
                checked = _resolve_path(checked, kind, base)
            if readable_by_others and (key in SECRET_KEYS or (kind == "keypath" and _has_pin_value(checked))):
                raise _fail(
                    path,
                    where,
                    f"identity {name!r}: key {key!r} holds a secret but the file is readable by group or others",
                    hint=f"run: chmod 600 {path}, or use a PIN/password file or variable",
                )
            identity.values[key] = checked
        elif key == "description":
            identity.description = _check_value(value, "str", f"identity {name!r}: key 'description'", path, where)
        elif key == "sts-endpoint":
            identity.sts_endpoint = _check_value(value, "str", f"identity {name!r}: key 'sts-endpoint'", path, where)
        elif key == "chain":
            identity.chain = _chain(name, value, path, where, lines)
        else:
            raise _fail(
                path, where, f"identity {name!r}: unknown key {key!r}", hint=_suggest(key, [*FLAG_KEYS, *OTHER_KEYS])
            )
    return identity


def _chain(name: str, value: Any, path: str, line: int, lines: dict[tuple[Any, ...], int]) -> list[ChainStep]:
    if not isinstance(value, list):
        raise _fail(
            path, line, f"identity {name!r}: 'chain' must be a list of role ARNs or [[identity.{name}.chain]] tables"
        )
    steps: list[ChainStep] = []
    for position, item in enumerate(value):
        where = lines.get(("identity", name, "chain", position), line)
        if isinstance(item, str):
            item = {"role-arn": item}
        if not isinstance(item, dict):
            raise _fail(path, where, f"identity {name!r}: chain step {position + 1} must be a role ARN or a table")
        fields_: dict[str, Any] = {}
        for key, raw in item.items():
            key_line = lines.get(("identity", name, "chain", position, key), where)
            if key not in CHAIN_KEYS:
                raise _fail(
                    path,
                    key_line,
                    f"identity {name!r}: chain step {position + 1}: unknown key {key!r}",
                    hint=_suggest(key, list(CHAIN_KEYS)),
                )
            fields_[key] = _check_value(raw, CHAIN_KEYS[key], f"identity {name!r}: chain key {key!r}", path, key_line)
        if not fields_.get("role-arn"):
            raise _fail(path, where, f"identity {name!r}: chain step {position + 1} has no 'role-arn'")
        from rasign.arns import is_arn_of

        if not is_arn_of(str(fields_["role-arn"]), "iam", "role/"):
            raise _fail(
                path,
                lines.get(("identity", name, "chain", position, "role-arn"), where),
                f"identity {name!r}: chain role {fields_['role-arn']!r} is not an IAM role ARN",
                hint="expected arn:aws:iam::ACCOUNT:role/NAME",
            )
        duration = fields_.get("duration")
        if duration is not None and not 900 <= duration <= 43200:
            raise _fail(
                path,
                lines.get(("identity", name, "chain", position, "duration"), where),
                f"identity {name!r}: chain duration {duration} is outside 900-43200 seconds",
            )
        steps.append(
            ChainStep(
                role_arn=fields_["role-arn"],
                external_id=fields_.get("external-id"),
                role_session_name=fields_.get("role-session-name"),
                source_identity=fields_.get("source-identity"),
                duration=duration,
                tags=tuple(sorted(fields_.get("tags", {}).items())),
                transitive_tag_keys=tuple(fields_.get("transitive-tag-keys", ())),
                region=fields_.get("region"),
                sts_endpoint=fields_.get("sts-endpoint"),
            )
        )
    return steps


_TYPE_WORDS = {
    "str": "a string",
    "path": "a string (a path)",
    "keypath": "a string (a path or URI)",
    "libpath": "a string",
    "template": "a string",
    "bool": "true or false",
    "int": "a whole number",
    "float": "a number",
    "pairs": 'a table of strings, e.g. { KEY = "VALUE" }',
    "table": "a table of strings",
    "strlist": "a list of strings",
}


def _is_string_table(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


_KIND_TESTS: dict[str, Callable[[Any], bool]] = {
    "bool": lambda value: isinstance(value, bool),
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "float": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "pairs": _is_string_table,
    "table": _is_string_table,
    "strlist": lambda value: isinstance(value, list) and all(isinstance(v, str) for v in value),
}
"""TOML type test of each value kind; every other kind is a string (TOML booleans are not numbers)."""


def _check_value(value: Any, kind: str, what: str, path: str, line: int) -> Any:
    ok = _KIND_TESTS.get(kind, lambda value: isinstance(value, str))(value)
    if not ok:
        raise _fail(path, line, f"{what} must be {_TYPE_WORDS[kind]}, not {_toml_type(value)}")
    if isinstance(value, str) and (not value or any(ch in value for ch in "\r\n\x00")):
        raise _fail(path, line, f"{what} must be a non-empty single-line string")
    if kind == "float":
        return float(value)
    if kind == "template":
        _check_template(value, what, path, line)
    return value


_ARN_KEYS = {
    "role-arn": ("iam", "role/", "an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
    "profile-arn": (
        "rolesanywhere",
        "profile/",
        "a Roles Anywhere profile ARN (arn:aws:rolesanywhere:REGION:ACCOUNT:profile/ID)",
    ),
    "trust-anchor-arn": (
        "rolesanywhere",
        "trust-anchor/",
        "a Roles Anywhere trust anchor ARN (arn:aws:rolesanywhere:REGION:ACCOUNT:trust-anchor/ID)",
    ),
}


def _bad_value(key: str, value: Any) -> str | None:
    """What is wrong with a well-typed value, checked here so the error can name the line."""
    if key in _ARN_KEYS:
        from rasign.arns import is_arn_of  # not at import: the CLI imports this module for its flags

        service, prefix, words = _ARN_KEYS[key]
        if not is_arn_of(value, service, prefix):
            return f"is not {words}"
    if key == "session-duration" and not 900 <= value <= 43200:
        return f"is {value}; it must be 900-43200 seconds"
    if key == "max-attempts" and value < 1:
        return "must be at least 1"
    if key in ("connect-timeout", "read-timeout") and value <= 0:
        return "must be more than 0 seconds"
    if key == "endpoint" and not value.startswith(("https://", "http://")):
        return "must be a URL starting with https://"
    return None


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


TEMPLATE_FIELDS = ("hostname", "user", "identity", "cn")


def _check_template(value: str, what: str, path: str, line: int) -> None:
    for found in re.findall(r"\{([^{}]*)\}", value):
        if found not in TEMPLATE_FIELDS:
            raise _fail(
                path,
                line,
                f"{what}: unknown template field {{{found}}}",
                hint="use " + ", ".join("{" + name + "}" for name in TEMPLATE_FIELDS),
            )


def _resolve_path(value: str, kind: str, base: str) -> str:
    if kind == "keypath" and (value.startswith(("pkcs11:", "handle:")) or ":" in value.split("/", 1)[0][1:]):
        return value  # a URI or handle, not a file
    if kind == "libpath" and os.sep not in value and "/" not in value:
        return value  # a bare library name found by the loader
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))


def _has_pin_value(value: str) -> bool:
    return value.startswith("pkcs11:") and "pin-value=" in value.lower()


def _strip_pin_value(value: str) -> str:
    if not _has_pin_value(value):
        return value
    path, _, query = value.partition("?")
    kept = [part for part in query.split("&") if part and not part.lower().startswith("pin-value=")]
    return path + ("?" + "&".join(kept) if kept else "")


def _suggest(key: str, choices: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, choices, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return "valid keys: " + ", ".join(sorted(choices))


def get_identity(name: str, path: str | None = None) -> Identity:
    """The identity called ``name``, or a ConfigError listing the ones that exist."""
    path = path or config_path()
    identities = load_identities(path)
    if name not in identities:
        known = ", ".join(sorted(identities)) or "none"
        raise ConfigError(
            f"no identity {name!r} in {path} (defined: {known})", hint="run 'rasign identities' to list them"
        )
    return identities[name]


def api_options(identity: Identity) -> dict[str, Any]:
    """The identity as keyword options of :mod:`rasign.api` (option field names, not flag dests)."""
    result: dict[str, Any] = {}
    for key, value in identity.values.items():
        if key not in _OPTION_FIELDS:  # the credential cache belongs to credential-process
            continue
        name, maps = _OPTION_FIELDS[key]
        if maps == "pairs":
            value = dict(value)
        elif maps == "inverted":
            value = not value
        result[name] = value
    if result.get("role_session_name"):
        result["role_session_name"] = render_session_name(
            result["role_session_name"], identity.name, result.get("certificate")
        )
    return result


# --------------------------------------------------------------------------- templates


def render_session_name(template: str | None, identity: str, certificate: str | None) -> str | None:
    """Fill ``{hostname}``, ``{user}``, ``{identity}`` and ``{cn}`` and make it a valid STS name.

    Characters STS refuses become ``-``, and the result is cut to 64 characters, so a long
    host name or a CN with spaces still yields a working session name.
    """
    if not template or "{" not in template:
        return template
    values: dict[str, str] = {}
    if "{hostname}" in template:
        import socket

        values["hostname"] = socket.gethostname().split(".")[0]
    if "{user}" in template:
        import getpass

        try:
            values["user"] = getpass.getuser()
        except (KeyError, OSError):
            values["user"] = "user"
    values["identity"] = identity
    if "{cn}" in template:
        values["cn"] = _certificate_cn(certificate)
    text = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), ""), template)
    text = re.sub(r"[^\w+=,.@-]", "-", text, flags=re.ASCII)[:64]
    return text if len(text) >= 2 else (text + "--")[:2]


def _certificate_cn(certificate: str | None) -> str:
    if not certificate or certificate.startswith("pkcs11:"):
        raise ConfigError(
            "{cn} in a session name needs a certificate file", hint="set certificate to a file, or drop {cn}"
        )
    from cryptography.x509.oid import NameOID

    from rasign.certs import load_certificates

    leaf = load_certificates(certificate)[0]
    names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else "no-cn"


# --------------------------------------------------------------------------- CLI hook


WITHOUT_IDENTITY = frozenset({"version", "emulator", "demo", "help", "completion", "agent"})
"""Commands that take no key or role options, so ``--identity`` would mean nothing there."""


def add_identity_flags(parser: argparse.ArgumentParser, command: str | None = None) -> None:
    """``--identity NAME`` and ``--config FILE`` on every command that takes a key or a role."""
    if command in WITHOUT_IDENTITY:
        return
    group = parser.add_argument_group("named identity")
    group.add_argument(
        "--identity",
        metavar="NAME",
        default=os.environ.get(IDENTITY_ENV) or None,
        help=f"take options from [identity.NAME] of the identities file (env {IDENTITY_ENV}); flags given here win",
    )
    group.add_argument(
        "--config",
        dest="identity_config",
        metavar="FILE",
        help=f"identities file (default ${CONFIG_ENV}, else ~/.config/rasign/config.toml)",
    )


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser | None:
    import argparse as _argparse

    for action in parser._actions:  # noqa: SLF001 - argparse exposes sub-parsers no other way
        if isinstance(action, _argparse._SubParsersAction):  # noqa: SLF001
            return action.choices.get(command)
    return None


CHAIN_RUNNERS = {
    "credential-process": "rasign.chain:run_credential_process",
}
"""Commands whose chained variant lives in rasign.chain (the others read args.identity_chain)."""

NOT_APPLIED = frozenset({"identities", "configure", *WITHOUT_IDENTITY})
"""Commands that read the identities file themselves, or take no identity options at all
(so ``RASIGN_IDENTITY`` in the environment never breaks ``rasign version``)."""

CHAIN_READY = frozenset(
    {"credential-process", "exec", "export", "doctor", "identities", "configure", "serve", "update"}
)


def apply_identity(
    args: argparse.Namespace, parser: argparse.ArgumentParser, reparse: Callable[[], argparse.Namespace]
) -> argparse.Namespace:
    """Parse again (``reparse``) with the identity's values as defaults, so explicit flags win.

    Called by the CLI right after parsing; ``reparse`` is the CLI's own parse call, so its
    rules (unknown flags, exclusions) apply to the second pass too. Without ``--identity``
    it returns ``args`` as is and imports nothing.
    """
    name = getattr(args, "identity", None)
    command = getattr(args, "command", None)
    if not name or command in NOT_APPLIED:
        return args
    identity = get_identity(name, getattr(args, "identity_config", None))
    sub = _subparser(parser, command) if command else None
    if sub is None:
        return args
    defaults = identity.defaults()
    known = {action.dest for action in sub._actions}  # noqa: SLF001
    sub.set_defaults(**{dest: value for dest, value in defaults.items() if dest in known})
    args = reparse()
    if getattr(args, "role_session_name", None):
        args.role_session_name = render_session_name(
            args.role_session_name, identity.name, getattr(args, "certificate", None)
        )
    args.identity_chain = [
        _render_step(step, identity.name, getattr(args, "certificate", None)) for step in identity.chain
    ]
    args.identity_sts_endpoint = identity.sts_endpoint
    if identity.chain and command not in CHAIN_READY:
        raise ConfigError(
            f"identity {name!r} chains into {identity.chain[-1].role_arn}, which '{command}' cannot do yet",
            hint="use credential-process, exec or export for chained identities",
        )
    if identity.chain and command in CHAIN_RUNNERS:
        import importlib

        module_name, _, function = CHAIN_RUNNERS[command].partition(":")
        args._run = getattr(importlib.import_module(module_name), function)
    return args


def _render_step(step: ChainStep, identity: str, certificate: str | None) -> ChainStep:
    if not step.role_session_name or "{" not in step.role_session_name:
        return step
    from dataclasses import replace

    return replace(step, role_session_name=render_session_name(step.role_session_name, identity, certificate))
