"""The model proposes (issue 18): label_with_prior, mean_entropy, class matching, the prior sources (a step-4 .pb
through the hybrid method, a step-8 run folder) and step 2's --prior / --prior-labels / --prior-run, with their
refusals."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import numpy as np
import pytest
from conftest import run_script

from dl_tools.errors import InputError
from dl_tools.io.images import write_image
from dl_tools.io.mat import read_label_mat
from dl_tools.io.text import write_colors, write_labels
from dl_tools.labelling.prior import (
    PriorParams,
    class_order,
    corrected_segments,
    label_with_prior,
    mean_entropy,
    prior_crf_params,
    prior_unary,
)
from dl_tools.labelling.simulated_strokes import correction_stroke, region_strokes
from dl_tools.workflows.prior import PriorFiles, prior_files

#: The classes of the ``quadrants`` fixture, in the labelling's order, and their colours there.
LABELS = ["red", "green", "blue", "yellow"]
QUADRANT_COLORS = np.array([[200, 40, 40], [40, 180, 40], [40, 40, 200], [210, 210, 60]], np.float32)
#: The tiny model's class order (another order than the labelling's: matched by name).
MODEL_LABELS = ["yellow", "blue", "red", "green"]


def one_hot(truth: np.ndarray, n: int, confidence: float) -> np.ndarray:
    """(H, W, N) probabilities: ``confidence`` on the class of ``truth``, the rest shared by the others."""
    probs = np.full(truth.shape + (n,), (1 - confidence) / (n - 1), np.float32)
    np.put_along_axis(probs, truth[..., None], confidence, axis=2)
    return probs


def test_a_confident_correct_prior_without_strokes_is_returned(quadrants):
    image, truth = quadrants
    label_image, marginals = label_with_prior(image, np.zeros(truth.shape, np.uint8), one_hot(truth, 4, 0.9), 4,
                                              prior_crf_params(1.0))
    assert label_image.shape == truth.shape and marginals.shape == truth.shape + (4,)
    assert (label_image == truth).mean() > 0.99


def test_a_stroke_overrides_a_wrong_prior_locally(quadrants):
    image, truth = quadrants
    wrong = truth.copy()
    wrong[:40, 60:90] = 0  # the model calls half the green quadrant red, confidently
    prior = one_hot(wrong, 4, 0.8)
    empty = np.zeros(truth.shape, np.uint8)
    before, _ = label_with_prior(image, empty, prior, 4, prior_crf_params(1.0))
    assert (before[:40, 60:90] == 0).mean() > 0.9  # without a stroke the model's mistake stays
    sparse = empty.copy()
    sparse[19:21, 65:85] = 2  # one green stroke in that half
    after, _ = label_with_prior(image, sparse, prior, 4, prior_crf_params(1.0))
    assert (after[sparse > 0] == 1).all()
    assert (after[14:26, 63:87] == 1).mean() > 0.85  # around the stroke, the stroke's class
    assert (after[:40, 60:90] == 1).mean() > 0.75
    assert (after[40:] == truth[40:]).all() and (after[:, :60] == truth[:, :60]).all()  # elsewhere the model's


def test_label_with_prior_on_a_coarser_grid_has_the_image_size(quadrants):
    image, truth = quadrants
    small_prior = one_hot(truth[::4, ::4], 4, 0.9)  # probabilities on a coarser grid are resized
    label_image, marginals = label_with_prior(image, np.zeros(truth.shape, np.uint8), small_prior, 4,
                                              prior_crf_params(0.5))
    assert label_image.shape == truth.shape and marginals.shape == (40, 60, 4)
    assert (label_image == truth).mean() > 0.97


def test_label_with_prior_refuses_mismatched_inputs(quadrants):
    image, truth = quadrants
    with pytest.raises(ValueError, match=r"\(h, w, 4\)"):
        label_with_prior(image, np.zeros(truth.shape, np.uint8), one_hot(truth, 4, 0.9)[:, :, :3], 4,
                         prior_crf_params(1.0))
    with pytest.raises(InputError, match="differ in size"):
        label_with_prior(image, np.zeros((5, 5), np.uint8), one_hot(truth, 4, 0.9), 4, prior_crf_params(1.0))


@pytest.mark.parametrize("kwargs", [dict(weight=0.0), dict(weight=1.5), dict(floor=1.0), dict(stroke_prob=1.0),
                                    dict(reach=-0.1), dict(corrected_lift=1.5), dict(corrected_lift=-0.1),
                                    dict(corrected_reach=-0.1)])
def test_prior_params_are_checked(kwargs):
    with pytest.raises(InputError) as refused:
        PriorParams(**kwargs)
    assert "\n" not in str(refused.value)


def test_corrected_segments_are_the_proposal_segments_a_stroke_of_another_class_touches():
    proposal = np.zeros((4, 6), np.int64)
    proposal[:, 2:4] = 1  # class-0 segments on the left and right, a class-1 segment in the middle
    fractions = np.zeros((4, 6, 2), np.float32)
    assert not corrected_segments(proposal, fractions).any()
    fractions[1, 0, 0] = fractions[2, 2, 1] = 1.0  # strokes of the proposal's own class: no correction
    assert not corrected_segments(proposal, fractions).any()
    fractions[3, 5, 1] = 0.25  # a class-1 stroke touching the right class-0 segment
    expected = np.zeros((4, 6, 2), bool)
    expected[:, 4:, 1] = True
    assert (corrected_segments(proposal, fractions) == expected).all()


def test_no_stroke_gives_the_proposal_even_where_it_is_wrong(quadrants):
    image, truth = quadrants
    wrong = truth.copy()
    wrong[:40, 60:] = 2  # the model calls the green quadrant blue
    label_image, _ = label_with_prior(image, np.zeros(truth.shape, np.uint8), one_hot(wrong, 4, 0.8), 4,
                                      prior_crf_params(1.0))
    assert (label_image == wrong).mean() > 0.99


def test_a_correction_stroke_relabels_the_whole_segment_the_prior_got_wrong(quadrants):
    _, truth = quadrants
    image = np.clip(QUADRANT_COLORS[truth] + np.random.default_rng(0).normal(0, 5, truth.shape + (3,)), 0,
                    255).astype(np.uint8)  # the quadrants, smooth enough for the CRF's colour kernel (colour 5)
    wrong = truth.copy()
    wrong[:40, 60:] = 2  # the green quadrant called blue: a segment of its own (it meets the blue one at a corner)
    prior = one_hot(wrong, 4, 0.9)
    sparse = np.zeros(truth.shape, np.uint8)
    sparse[19:21, 70:110] = 2  # one green stroke in it
    after, _ = label_with_prior(image, sparse, prior, 4, prior_crf_params(1.0))
    assert (after == truth).all()
    local, _ = label_with_prior(image, sparse, prior, 4, prior_crf_params(1.0), PriorParams(corrected_lift=0.0))
    assert (local[:40, 60:] == 2).mean() > 0.9  # without the lift, the stroke corrects little more than itself


def test_a_correction_lifts_its_class_only_within_its_reach():
    # one segment of class 0 across a (10, 400) grid, a class-1 correction at its left end
    probs = np.zeros((10, 400, 2), np.float32)
    probs[:, :, 0], probs[:, :, 1] = 0.9, 0.1
    fractions = np.zeros_like(probs)
    fractions[4:6, :3, 1] = 1.0
    whole, none, near_only = (prior_unary(probs, fractions, PriorParams(reach=0.0, corrected_reach=reach,
                                                                        corrected_lift=lift))
                              for reach, lift in ((0.0, 0.9), (0.0, 0.0), (0.1, 0.9)))
    far, near = np.s_[:, 300:], np.s_[:, 15:25]  # 0.1 x the diagonal is 40 cells
    assert (whole[far][..., 1] > 0.45).all()  # the whole segment: the model no longer prefers its class
    assert np.allclose(near_only[far], none[far], atol=1e-3)  # out of reach: as if no correction
    assert (near_only[near][..., 1] > none[near][..., 1] + 0.08).all()  # near the stroke: lifted
    assert np.allclose(near_only[near], whole[near], atol=0.03)


def test_strokes_of_the_prior_s_own_class_change_nothing_away_from_them(quadrants):
    image, truth = quadrants
    wrong = truth.copy()
    wrong[:40, 60:] = 2  # the model calls the green quadrant blue
    prior = one_hot(wrong, 4, 0.8)
    before, _ = label_with_prior(image, np.zeros(truth.shape, np.uint8), prior, 4, prior_crf_params(1.0))
    sparse = np.zeros(truth.shape, np.uint8)
    sparse[10:12, 10:40] = 1  # red in the red quadrant
    sparse[60:62, 10:40] = 3  # blue in the blue quadrant
    sparse[60:62, 70:100] = 4  # yellow in the yellow quadrant
    after, _ = label_with_prior(image, sparse, prior, 4, prior_crf_params(1.0))
    assert (after == before).all()


def test_mean_entropy_known_answers():
    uniform = np.full((4, 5, 3), 1 / 3)
    certain = one_hot(np.zeros((4, 5), np.int64), 3, 1.0)
    assert mean_entropy(uniform) == pytest.approx(1.0)
    assert mean_entropy(certain) == pytest.approx(0.0, abs=1e-12)
    half = np.concatenate([np.full((2, 5, 2), 0.5), one_hot(np.zeros((2, 5), np.int64), 2, 1.0)])
    assert mean_entropy(half) == pytest.approx(0.5)  # half the pixels uniform, half certain
    assert mean_entropy(np.ones((3, 3, 1))) == 0.0


def test_class_order_matches_by_name_and_names_the_mismatch():
    order = class_order(MODEL_LABELS, LABELS, "model", "--labels")
    assert [MODEL_LABELS[i] for i in order] == LABELS
    with pytest.raises(InputError, match="model lacks green.*--labels lacks sand"):
        class_order(["red", "blue", "yellow", "sand"], LABELS, "model", "--labels")


def test_simulated_person_strokes_regions_then_the_largest_mistake(quadrants):
    _, truth = quadrants
    sparse, n_strokes = region_strokes(truth)
    assert n_strokes == 4 and set(np.unique(sparse)) == {0, 1, 2, 3, 4}
    assert (sparse[sparse > 0] == truth[sparse > 0] + 1).all()  # every stroke in its region's class
    guess = truth.copy()
    guess[40:, 60:] = 0  # the yellow quadrant (the largest mistake) wrong
    guess[:10, :10] = 1  # a smaller mistake
    stroke, k = correction_stroke(truth, guess)
    assert k == 3 and stroke[40:, 60:].sum() == stroke.sum() > 0
    assert correction_stroke(truth, truth) is None


def test_prior_flags_are_judged_together(tmp_path):
    assert prior_files() is None
    with pytest.raises(InputError, match="--prior and --prior-run both"):
        prior_files(tmp_path / "m.pb", tmp_path / "l.txt", tmp_path)
    with pytest.raises(InputError, match="--prior-labels given without --prior"):
        prior_files(model_labels=tmp_path / "l.txt")
    with pytest.raises(InputError, match="--prior needs --prior-labels"):
        prior_files(tmp_path / "m.pb")


# --- the prior sources and step 2's flags, on a tiny model and a tiny run ---------------------------------------

@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A frozen .pb (16 px input) that calls a tile the class whose quadrant colour is nearest its mean colour,
    confidently, and its labels file in MODEL_LABELS order."""
    import tensorflow as tf

    from dl_tools.models.frozen import export_frozen_graph

    root = tmp_path_factory.mktemp("prior_model")
    centres = tf.constant(QUADRANT_COLORS[[LABELS.index(n) for n in MODEL_LABELS]] / 255.0)

    def probs(images):
        mean = tf.reduce_mean(images, axis=[1, 2])
        distance = tf.reduce_sum(tf.square(mean[:, None, :] - centres[None]), axis=2)
        return tf.nn.softmax(-30.0 * distance)

    export_frozen_graph(probs, (16, 16), root / "model.pb")
    write_labels(root / "model_labels.txt", MODEL_LABELS)
    return root


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A step-8 run folder of the tiny backbone (random weights) over MODEL_LABELS, trained at full scale."""
    from dl_tools.file_contract import BEST_WEIGHTS, RUN_SETTINGS
    from dl_tools.models.fcn import build_fcn
    from dl_tools.workflows.fcn_train import FCNTrainParams

    run = tmp_path_factory.mktemp("prior_run")
    params = FCNTrainParams(image_size=(64, 96), backbone="tiny", standardise=False)
    build_fcn(4, params.image_size, "tiny", pretrained=False).save_weights(run / BEST_WEIGHTS)
    settings = {"params": asdict(params), "labels": MODEL_LABELS, "colors": [[0, 0, 0]] * 4,
                "train_scale": [1.0, 1.0]}
    (run / RUN_SETTINGS).write_text(json.dumps(settings))
    return run


@pytest.fixture
def labelling(tmp_path, quadrants):
    """image.png, labels.txt, colors.txt and a scribbles PNG holding one short stroke in the green quadrant."""
    image, _ = quadrants
    write_image(tmp_path / "image.png", image)
    write_labels(tmp_path / "labels.txt", LABELS)
    write_colors(tmp_path / "colors.txt", QUADRANT_COLORS.astype(np.uint8))
    sparse = np.zeros(image.shape[:2], np.uint8)
    sparse[18:22, 80:100] = 2
    write_image(tmp_path / "strokes.png", sparse)
    write_image(tmp_path / "none.png", np.zeros_like(sparse))
    return tmp_path


def test_the_step4_prior_proposes_the_quadrants(tiny_model, quadrants):
    image, truth = quadrants
    prior = prior_files(tiny_model / "model.pb", tiny_model / "model_labels.txt").load(LABELS)
    probs = prior.probabilities(image, 0.5)
    assert probs.shape == (40, 60, 4) and probs.dtype == np.float32
    prior.refine_with_crf = False  # the tiles' own probabilities: the quadrant colours, in the labelling's order
    tiles = prior.probabilities(image)
    assert tiles.shape == (80, 120, 4)
    assert (np.argmax(tiles[:32, :48], axis=2) == 0).all() and (np.argmax(tiles[48:, 64:], axis=2) == 3).all()
    label_image, _ = label_with_prior(image, np.zeros(truth.shape, np.uint8), probs, 4, prior_crf_params(0.5))
    assert (label_image == truth).mean() > 0.95


def test_the_step8_prior_gives_softmax_probabilities(tiny_run, quadrants):
    image, _ = quadrants
    probs = PriorFiles(run=tiny_run).load(LABELS).probabilities(image, 0.5)
    assert probs.shape == (40, 60, 4)
    assert np.allclose(probs.sum(axis=2), 1.0, atol=1e-4)


def _refused(proc, *names):
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and last.startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    assert all(str(name) in last for name in names), last


def _label_args(folder, scribbles="strokes.png"):
    return ["-s", "1", "--image", folder / "image.png", "--labels", folder / "labels.txt", "--colors",
            folder / "colors.txt", "--scribbles", folder / scribbles, "--outdir", folder / "out"]


def test_scripted_prior_writes_step2_outputs(labelling, tiny_model, quadrants):
    _, truth = quadrants
    proc = run_script("create_groundtruth/label_1image_crf.py", *_label_args(labelling), "--prior",
                      tiny_model / "model.pb", "--prior-labels", tiny_model / "model_labels.txt")
    out = labelling / "out"
    names = {p.name for p in out.iterdir()}
    assert names == {"image_mres.mat", "image_mres.png", "image_report.txt", "image_mres_label.png",
                     "image_mres_color.png"}, proc.stdout
    label_file = read_label_mat(out / "image_mres.mat", strokes=True)
    assert label_file.labels == LABELS and label_file.sparse.max() == 2
    assert (label_file.label_image == truth).mean() > 0.95
    report = (out / "image_report.txt").read_text()
    assert "Prior: step-4 model" in report and "mean entropy" in report and "--engine" not in report
    assert "refitted to the strokes" in report  # "not refitted ..." where the ImageNet weights cannot be had


def test_scripted_prior_run_with_no_stroke_writes_the_model_labels(labelling, tiny_run):
    from dl_tools.cli.label_1image_crf import main

    assert main([str(a) for a in _label_args(labelling, "none.png")] + ["--prior-run", str(tiny_run), "-q"]) == 0
    assert read_label_mat(labelling / "out" / "image_mres.mat").label_image.shape == (80, 120)
    report = (labelling / "out" / "image_report.txt").read_text()
    assert "Prior: step-8 run" in report and "no stroke: the model's labels" in report


def test_scripted_prior_run_refits_to_the_strokes_on_the_network_s_features(labelling, tiny_run):
    from dl_tools.cli.label_1image_crf import main

    assert main([str(a) for a in _label_args(labelling)] + ["--prior-run", str(tiny_run), "-q"]) == 0
    report = (labelling / "out" / "image_report.txt").read_text()
    assert "refitted to the strokes on the model's per-pixel features" in report


def test_the_opencv_labeller_shows_the_model_proposal_under_the_strokes(labelling, tiny_model, quadrants):
    """Interactive step 2 with --prior: the class window shows the model's proposal (toggled by p) under the
    strokes, computed once: the same probabilities then make the labels."""
    from dl_tools.labelling.opencv_view import PROPOSAL_ALPHA, STROKE_ALPHA, class_window_view
    from dl_tools.plotting import label_overlay
    from dl_tools.workflows import label as workflow

    image, truth = quadrants
    colors = QUADRANT_COLORS.astype(np.uint8)
    seen = {}

    def annotate(image_shown, colors_shown, session):  # a person who looks, hides the proposal, adds a stroke
        seen["proposal"] = session.proposal.copy()
        assert session.show_proposal and "hidden" in session.handle_key("p") and not session.show_proposal
        assert "shown" in session.handle_key("p")
        session.sparse[18:22, 80:100] = 2
        session.handle_key("f")

    prior = PriorFiles(model=tiny_model / "model.pb", model_labels=tiny_model / "model_labels.txt")
    result = workflow.label_image_file(labelling / "image.png", labelling / "labels.txt", labelling / "colors.txt",
                                       workflow.LabelParams(window=1000, scale=1.0), annotate=annotate, prior=prior)
    loaded = prior.load(LABELS)
    expected, _ = label_with_prior(image, np.zeros(truth.shape, np.uint8), loaded.probabilities(image, 1.0), 4,
                                   prior_crf_params(1.0), loaded.weighting)
    np.testing.assert_array_equal(seen["proposal"], expected)
    assert (seen["proposal"] == truth).mean() > 0.95
    assert (read_label_mat(result.outputs["mat"]).label_image == truth).mean() > 0.95
    # the view: the proposal lightly under the strokes (pixels without a stroke: value N)
    strokes = np.full(truth.shape, 4)
    strokes[0, 0] = 1
    view = class_window_view(image, strokes, truth, colors)
    np.testing.assert_array_equal(view[1:, 1:], label_overlay(image, truth, colors, PROPOSAL_ALPHA)[1:, 1:])
    np.testing.assert_array_equal(view[0, 0], label_overlay(label_overlay(image, truth, colors, PROPOSAL_ALPHA),
                                                            strokes, colors, STROKE_ALPHA)[0, 0])
    np.testing.assert_array_equal(class_window_view(image, strokes, None, colors)[1:, 1:], image[1:, 1:])


def test_the_proposal_key_without_a_model_says_how_to_get_one():
    from dl_tools.labelling.session import AnnotationSession, Window

    session = AnnotationSession((10, 10), ["a", "b"], [Window(0, 0, 10, 10)])
    assert session.proposal is None and "--prior" in session.handle_key("p")
    with pytest.raises(ValueError, match="grid"):
        AnnotationSession((10, 10), ["a", "b"], [Window(0, 0, 10, 10)], proposal=np.zeros((5, 5), np.uint8))


@pytest.mark.parametrize("case", ["missing model", "not a graph", "no labels", "both", "classes", "run classes",
                                  "not a run", "no strokes without prior"])
def test_scripted_prior_refusals_write_nothing(case, labelling, tiny_model, tiny_run, capsys):
    from dl_tools.cli.label_1image_crf import main

    model, model_labels = tiny_model / "model.pb", tiny_model / "model_labels.txt"
    write_labels(labelling / "other.txt", ["red", "green", "blue", "sand"])
    (labelling / "bad.pb").write_bytes(b"not a graph")
    bad_run = labelling / "bad_run"
    bad_run.mkdir()
    (bad_run / "settings.json").write_text((tiny_run / "settings.json").read_text().replace("yellow", "sand"))
    (bad_run / "best.weights.h5").write_bytes((tiny_run / "best.weights.h5").read_bytes())
    args, names = {
        "missing model": (["--prior", labelling / "no.pb", "--prior-labels", model_labels], ["--prior", "no.pb"]),
        "not a graph": (["--prior", labelling / "bad.pb", "--prior-labels", model_labels], ["--prior", "bad.pb"]),
        "no labels": (["--prior", model], ["--prior-labels"]),
        "both": (["--prior", model, "--prior-labels", model_labels, "--prior-run", tiny_run],
                 ["--prior", "--prior-run"]),
        "classes": (["--prior", model, "--prior-labels", labelling / "other.txt"], ["other.txt", "sand", "green"]),
        "run classes": (["--prior-run", bad_run], ["--prior-run", "sand", "yellow"]),
        "not a run": (["--prior-run", labelling], ["--prior-run", "settings.json"]),
        "no strokes without prior": ([], ["none.png", "no strokes"]),
    }[case]
    scribbles = "none.png" if case == "no strokes without prior" else "strokes.png"
    code = main([str(a) for a in _label_args(labelling, scribbles) + args])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("error: ") and "Traceback" not in err, err
    assert all(str(name) in last for name in names), last
    assert not (labelling / "out").exists()


def test_the_web_labeller_proposes_with_a_step4_model_and_sorts_by_uncertainty(tiny_model, quadrants, tmp_path):
    """label_web.py --model/--model-labels: the image the model knows least is listed first, an image opens with
    the model's labels, and compute without any stroke returns them."""
    from starlette.testclient import TestClient

    from dl_tools.workflows.label import LabelParams
    from dl_tools.workflows.label_web import WebParams, build_labeller

    image, truth = quadrants
    (tmp_path / "images").mkdir()
    write_image(tmp_path / "images" / "a_quadrants.png", image)
    write_image(tmp_path / "images" / "b_grey.png", np.full_like(image, 125))
    write_labels(tmp_path / "labels.txt", LABELS)
    write_colors(tmp_path / "colors.txt", QUADRANT_COLORS.astype(np.uint8))
    prior = prior_files(tiny_model / "model.pb", tiny_model / "model_labels.txt")
    labeller = build_labeller(tmp_path / "images", tmp_path / "labels.txt", tmp_path / "colors.txt",
                              LabelParams(scale=0.5), WebParams(), prior=prior, sort_by_uncertainty=True)
    try:
        client = TestClient(labeller.app)
        assert [item["name"] for item in client.get("/api/images").json()] == ["b_grey.png", "a_quadrants.png"]
        client.get("/api/images/a_quadrants.png/display.jpg")  # the page opens the image
        assert client.get("/api/images/a_quadrants.png/result.png").status_code == 200  # the model's proposal
        job = client.post("/api/images/a_quadrants.png/compute", json={}).json()["job"]
        for _ in range(600):
            state = client.get(f"/api/jobs/{job}").json()
            if state["state"] not in ("queued", "running"):
                break
            time.sleep(0.05)
        assert state["state"] == "done", state
        assert client.post("/api/images/a_quadrants.png/save", json={}).status_code == 200
        from dl_tools.io.mat import read_label_mat

        saved = read_label_mat(tmp_path / "images" / "a_quadrants_mres.mat")
        assert (saved.label_image == truth).mean() > 0.95
        assert [e["role"] for e in saved.provenance["inputs"]] == ["image", "labels", "colors", "prior model",
                                                                   "prior labels"]  # no stroke was drawn
    finally:
        labeller.jobs.shutdown()


def test_the_web_labeller_and_the_scripted_mode_fuse_the_same_strokes_alike(tiny_model, quadrants, tmp_path):
    """A correction drawn in the page (a yellow stroke where the model says green) gives the labels that
    label_1image_crf.py --prior gives for the strokes the page saved."""
    from starlette.testclient import TestClient

    from dl_tools.cli.label_1image_crf import main
    from dl_tools.workflows.label import LabelParams
    from dl_tools.workflows.label_web import WebParams, build_labeller

    image, _ = quadrants
    (tmp_path / "images").mkdir()
    write_image(tmp_path / "images" / "a.png", image)
    write_labels(tmp_path / "labels.txt", LABELS)
    write_colors(tmp_path / "colors.txt", QUADRANT_COLORS.astype(np.uint8))
    model, model_labels = tiny_model / "model.pb", tiny_model / "model_labels.txt"
    labeller = build_labeller(tmp_path / "images", tmp_path / "labels.txt", tmp_path / "colors.txt",
                              LabelParams(scale=0.5), WebParams(), prior=prior_files(model, model_labels))
    try:
        client = TestClient(labeller.app)
        stroke = {"class": 3, "width": 3, "points": [[80, 20], [100, 20]]}
        assert client.post("/api/images/a.png/strokes", json=stroke).status_code == 200
        job = client.post("/api/images/a.png/save", json={}).json()["job"]
        for _ in range(600):
            if client.get(f"/api/jobs/{job}").json()["state"] not in ("queued", "running"):
                break
            time.sleep(0.05)
        web = read_label_mat(tmp_path / "images" / "a_mres.mat").label_image
    finally:
        labeller.jobs.shutdown()
    args = ["-s", "0.5", "--image", tmp_path / "images" / "a.png", "--labels", tmp_path / "labels.txt", "--colors",
            tmp_path / "colors.txt", "--scribbles", tmp_path / "images" / "a_scribbles.png", "--outdir",
            tmp_path / "out", "--prior", model, "--prior-labels", model_labels, "-q"]
    assert main([str(a) for a in args]) == 0
    assert (web[20, 80:101] == 3).all()
    assert (read_label_mat(tmp_path / "out" / "a_mres.mat").label_image == web).all()
