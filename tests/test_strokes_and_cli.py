"""Simulated strokes and the shared CLI pieces."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from dl_tools.cli.common import (
    ask_path,
    band_list,
    build_base_parser,
    positive_int,
    run,
    seed_int,
    unit_fraction,
)
from dl_tools.errors import InputError
from dl_tools.labelling.simulated_strokes import simulate_strokes


def test_strokes_stay_inside_their_class(quadrants):
    _, truth = quadrants
    sparse = simulate_strokes(truth, coverage=0.02, brush=3, stroke_length=30, min_region=50, seed=1)
    marked = sparse > 0
    assert 0.005 < marked.mean() < 0.1
    assert np.array_equal(sparse[marked] - 1, truth[marked])  # k = class k-1, never on the wrong class
    assert set(np.unique(sparse)) == {0, 1, 2, 3, 4}  # every region got a stroke
    assert np.array_equal(sparse, simulate_strokes(truth, coverage=0.02, brush=3, stroke_length=30,
                                                   min_region=50, seed=1))


def test_run_turns_input_errors_into_exit_2(capsys):
    parser = build_base_parser("demo", "demo")

    def body(args):
        raise InputError("--thing: bad value; give a good one")

    assert run(parser, body, []) == 2
    err = capsys.readouterr().err
    assert err == "error: --thing: bad value; give a good one\n"


def test_run_returns_zero_and_passes_codes():
    parser = build_base_parser("demo", "demo")
    assert run(parser, lambda args: None, ["-q"]) == 0
    assert run(parser, lambda args: 3, []) == 3


def test_ask_path_without_display(monkeypatch):
    monkeypatch.setenv("DL_TOOLS_NO_DIALOG", "1")
    assert str(ask_path("x.png", "--image")) == "x.png"
    with pytest.raises(InputError, match="--image is required"):
        ask_path(None, "--image")


@pytest.mark.parametrize("parse, text", [(positive_int, "0"), (positive_int, "a"),
                                         (unit_fraction, "0"), (unit_fraction, "1.2"), (band_list, "0,1,2"),
                                         (band_list, "1,2")])
def test_argument_types_reject(parse, text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse(text)


def test_argument_types_accept():
    assert positive_int("96") == 96 and unit_fraction("1") == 1.0
    assert band_list("3,2,1") == (3, 2, 1)
    assert seed_int("0") == 0 and seed_int(str(2**32 - 1)) == 2**32 - 1
    for bad in ("-1", str(2**32), "x"):
        with pytest.raises(argparse.ArgumentTypeError, match="must be an integer from 0 to 4294967295"):
            seed_int(bad)
