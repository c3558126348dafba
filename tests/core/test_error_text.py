"""``str()`` of every RasignError carries its fix, as the CLI's one line does.

A Python API caller sees an exception through ``str()`` (logging, tracebacks, ``print``);
if the fix only lived in ``hint()``, they would read "module not installed" without the
``pip install`` line that the CLI user gets.
"""

from __future__ import annotations

import pytest

from rasign import errors
from rasign.backend import require_module
from rasign.errors import EXIT_CODES, BackendUnavailable, RasignError, ServiceError

CLASSES = [getattr(errors, name) for name in EXIT_CODES]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_str_of_every_class_names_problem_and_fix(cls: type[RasignError]) -> None:
    error = cls("the key file is\n  unreadable", hint="run chmod 0600 on it")
    assert str(error) == "the key file is unreadable (run chmod 0600 on it)"
    assert str(error) == error.one_line()


def test_str_without_a_hint_is_the_message() -> None:
    assert str(RasignError("plain message")) == "plain message"


def test_missing_extra_names_the_pip_command_in_str() -> None:
    with pytest.raises(BackendUnavailable) as caught:
        require_module("rasign_module_that_does_not_exist", "pkcs11", system_hint="apt install softhsm2")
    text = str(caught.value)
    assert "'rasign_module_that_does_not_exist', which is not installed" in text
    assert "pip install 'rasign[pkcs11]'" in text and "apt install softhsm2" in text
    assert caught.value.exit_code == 7


def test_str_follows_a_message_updated_after_construction() -> None:
    error = ServiceError("throttled", status=429, code="ThrottlingException", hint="retry later")
    error.message = "exceeded maximum number of attempts, 3, throttled"
    assert str(error) == "exceeded maximum number of attempts, 3, throttled (retry later)"


def test_every_error_class_is_in_the_exit_code_table_and_declares_retry():
    from rasign.errors import error_classes

    ours = [cls for cls in error_classes() if cls.__module__ == "rasign.errors"]  # tests may subclass too
    assert {cls.__name__ for cls in ours} == set(EXIT_CODES)
    permanent = {cls.__name__ for cls in ours if cls.permanent}
    assert permanent == {
        "UsageError",
        "ConfigError",
        "KeyLoadError",
        "CertificateError",
        "AuthenticationError",
        "PromptNeeded",
        "BackendUnavailable",
        "AccessDenied",
    }
