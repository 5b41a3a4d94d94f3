"""A warning raised by DL tools' own code is an error in the tests (pyproject.toml, filterwarnings), so a test
cannot pass while the package warns; other packages' warnings follow their own filters."""

from __future__ import annotations

import warnings

import pytest


def _warn_from(module_name: str) -> None:
    """Issue a UserWarning whose origin is the module ``module_name`` (as warnings.warn inside it would)."""
    exec(compile("import warnings\nwarnings.warn('probe', UserWarning)", "<probe>", "exec"), {"__name__": module_name})


def test_a_warning_from_our_package_raises():
    with pytest.raises(UserWarning, match="probe"):
        _warn_from("dl_tools.workflows.label")


def test_a_warning_from_another_package_is_only_a_warning():
    with warnings.catch_warnings(record=True) as caught:  # the filters in force stay: only recording is added
        _warn_from("some_other_package.module")
    assert [str(w.message) for w in caught] == ["probe"]
