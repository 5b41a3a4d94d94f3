"""Defaults written once: every option of a step that sets a field of its params dataclass takes that field's
default (the dataclass is the single source), and --help shows it."""

from __future__ import annotations

import dataclasses

import pytest

from dl_tools.cli import (
    fcn_infer,
    images_split_train_test,
    make_labels,
    retile,
    retrain,
    semseg_cnn_crf,
    test_class_tiles,
)
from dl_tools.segmentation.hybrid import HybridParams
from dl_tools.workflows.eval_tiles import EvalTilesParams
from dl_tools.workflows.fcn_infer import FCNInferParams
from dl_tools.workflows.make_labels import MakeLabelsParams
from dl_tools.workflows.retile import RetileParams
from dl_tools.workflows.retrain import RetrainParams
from dl_tools.workflows.split import SplitParams
from dl_tools.workflows.windowed import WindowedParams

STEPS = [
    (retrain, RetrainParams, {}),
    (retile, RetileParams, {"threshold": "purity"}),
    (fcn_infer, FCNInferParams, {}),
    (fcn_infer, WindowedParams, {}),
    (images_split_train_test, SplitParams, {"proportion": "train_fraction"}),
    (test_class_tiles, EvalTilesParams, {"number": "n"}),
    (make_labels, MakeLabelsParams, {"median": "median_radius"}),
    (semseg_cnn_crf, HybridParams, {}),
]


@pytest.mark.parametrize("module, params, renamed", STEPS, ids=lambda v: getattr(v, "__name__", ""))
def test_options_take_the_dataclass_defaults(module, params, renamed):
    parser = module.build_parser()
    fields = {f.name: f for f in dataclasses.fields(params)}
    checked = 0
    for action in parser._actions:
        field = renamed.get(action.dest, action.dest)
        if field not in fields or not action.option_strings or action.dest in ("overwrite", "resume"):
            continue
        expected = getattr(params, field) if not isinstance(params, type) else fields[field].default
        assert action.default == expected, (action.dest, action.default, expected)
        if action.help and "%(default)s" in action.help:
            assert f"(default {expected}" in parser.format_help().replace("\n", " ").replace("  ", " ") or \
                str(expected) in parser.format_help()
        checked += 1
    assert checked >= 1


def test_a_changed_dataclass_default_reaches_the_option_and_its_help(monkeypatch):
    monkeypatch.setattr(RetileParams.__dataclass_fields__["tile"], "default", 128)
    parser = retile.build_parser()
    assert parser.parse_args([]).tile == 128 and "tile size in px (default 128)" in parser.format_help()
