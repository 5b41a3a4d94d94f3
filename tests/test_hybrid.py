"""Step 6, hybrid segmentation: tile grid, threshold, CRF on a known image, outputs, bad input, --help."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, run_script

from dl_tools.arrays.tiling import centred_every, cut_windows
from dl_tools.errors import InputError
from dl_tools.io.mat import read_label_mat
from dl_tools.io.text import read_class_colors, write_colors, write_labeldefs, write_labels
from dl_tools.segmentation.hybrid import HybridParams, segment, tile_map, tile_plan
from dl_tools.workflows.hybrid import images_to_segment, segment_files

QUADRANT_COLORS = np.array([[200, 40, 40], [40, 180, 40], [40, 40, 200], [210, 210, 60]], dtype=np.float32)
LABELS = ["red", "green", "blue", "yellow"]


class MeanColourClassifier:
    """Stand-in for FrozenClassifier: scores each tile by the distance of its mean colour to the quadrant colours.

    ``confidence`` sharpens (large) or flattens (small) the probabilities; ``calls`` counts predict calls.
    """

    def __init__(self, input_size=(16, 16), confidence=1 / 500, n_classes=4):
        self.input_size = input_size
        self.n_classes = n_classes
        self.confidence = confidence
        self.calls = 0

    def predict(self, images, batch_size=64):
        self.calls += 1
        assert images.shape[1:] == (*self.input_size, 3)
        means = images.reshape(len(images), -1, 3).astype(np.float32).mean(axis=1)
        logits = -((means[:, None, :] - QUADRANT_COLORS[None, : self.n_classes]) ** 2).sum(-1) * self.confidence
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def fast_params(**kwargs):
    kwargs.setdefault("tile", 16)
    kwargs.setdefault("decim", 1)
    kwargs.setdefault("scale", 1.0)
    kwargs.setdefault("prob", 0.6)
    return HybridParams(**kwargs)


@pytest.mark.parametrize("shape", [(37, 53), (32, 48), (16, 17)])
def test_full_grid_covers_every_pixel_once(shape):
    origins = tile_plan(shape, 16, decim=1).origins
    cover = np.zeros((shape[0] + 16, shape[1] + 16), int)
    for row, col in origins:
        cover[row:row + 16, col:col + 16] += 1
    assert (cover[: shape[0], : shape[1]] == 1).all()
    assert len(origins) == -(-shape[0] // 16) * -(-shape[1] // 16)


def test_decimation_is_a_centred_2d_grid():
    assert centred_every(10, 8).tolist() == [0, 8]
    assert centred_every(7, 8).tolist() == [3]
    assert centred_every(5, 2).tolist() == [0, 2, 4]
    assert centred_every(6, 2).tolist() == [0, 2, 4]
    origins = tile_plan((100, 160), 10, decim=3).origins  # 10 x 16 tiles -> rows 0,3,6,9; cols 0,3,..,15 (offset 0)
    assert sorted(set(origins[:, 0].tolist())) == [0, 30, 60, 90]
    assert sorted(set(origins[:, 1].tolist())) == [0, 30, 60, 90, 120, 150]


def test_edge_tiles_are_completed_by_reflecting_the_image_about_its_edge():
    # pixel (r, c) holds 10 r + c; 5 x 6 image, 4 px tiles: the last row and column of tiles stick out
    image = (10 * np.arange(5)[:, None] + np.arange(6)[None, :]).astype(np.uint8)[:, :, None].repeat(3, axis=2)
    tiles = cut_windows(image, tile_plan(image.shape, 4), mirror="reflect")[..., 0]
    assert tiles[0].tolist() == [[0, 1, 2, 3], [10, 11, 12, 13], [20, 21, 22, 23], [30, 31, 32, 33]]
    # a one-row sliver (row 4) continues into rows 3, 2, 1 of the image, not row 4 repeated
    assert tiles[3].tolist() == [[44, 45, 44, 43], [34, 35, 34, 33], [24, 25, 24, 23], [14, 15, 14, 13]]
    assert tiles[1].tolist() == [[4, 5, 4, 3], [14, 15, 14, 13], [24, 25, 24, 23], [34, 35, 34, 33]]
    assert tiles[2].tolist() == [[40, 41, 42, 43], [30, 31, 32, 33], [20, 21, 22, 23], [10, 11, 12, 13]]
    # the same as reflecting the whole image once
    padded = np.pad(image, [(0, 3), (0, 2), (0, 0)], mode="reflect")[..., 0]
    assert (tiles[3] == padded[4:8, 4:8]).all()


def test_tile_map_is_one_based_and_skips_dropped_tiles():
    plan = tile_plan((20, 30), 16)[:3]  # tiles at (0, 0), (0, 16), (16, 0)
    assert plan.origins.tolist() == [[0, 0], [0, 16], [16, 0]]
    sparse = tile_map(plan, np.array([0, 2, 1]), np.array([True, True, False]))
    assert sparse.shape == (20, 30)
    assert (sparse[:16, :16] == 1).all() and (sparse[:16, 16:] == 3).all()
    assert (sparse[16:, :] == 0).all()


def test_quadrants_recovered_after_crf(quadrants):
    image, truth = quadrants
    classifier = MeanColourClassifier()
    result = segment(image, classifier, fast_params(decim=2))
    assert classifier.calls == 1  # all tiles of the image in one batched call
    assert result.label_image.shape == truth.shape
    assert (result.label_image == truth).mean() > 0.95
    # tiles that straddle a quadrant border are wrong somewhere; the CRF does better than the tile map
    tile_acc = (result.sparse.astype(int) - 1 == truth)[result.sparse > 0].mean()
    assert (result.label_image == truth).mean() >= tile_acc


@pytest.mark.parametrize("shape", [(83, 121), (17, 16)])
def test_output_shape_is_exact_for_odd_sizes(quadrants, shape):
    image = np.ascontiguousarray(np.resize(quadrants[0], shape + (3,)))
    result = segment(image, MeanColourClassifier(), fast_params(scale=0.37))
    assert result.label_image.shape == shape and result.sparse.shape == shape


def test_threshold_drops_uncertain_tiles(quadrants):
    image, _ = quadrants
    flat = MeanColourClassifier(confidence=1 / 50000)  # nearly uniform probabilities
    probs = flat.predict(cut_windows(image, tile_plan(image.shape, 16), mirror="reflect"))
    threshold = float(np.median(probs.max(axis=1)))
    result = segment(image, flat, fast_params(prob_thres=threshold))
    assert result.kept.tolist() == (result.tile_prob >= threshold).tolist()
    assert 0 < result.kept.sum() < len(result.kept)
    for (row, col), kept in zip(result.origins, result.kept):
        assert (result.sparse[row:row + 16, col:col + 16] > 0).all() == kept
    with pytest.raises(InputError, match="no tile reached PROB_THRES"):
        segment(image, flat, fast_params(prob_thres=0.99))


def test_tile_is_resized_to_the_model_input(quadrants):
    image, truth = quadrants
    result = segment(image, MeanColourClassifier(input_size=(8, 8)), fast_params(tile=20))
    assert (result.label_image == truth).mean() > 0.9


@pytest.mark.parametrize("kwargs, message", [
    (dict(tile=0), "TILE"), (dict(prob_thres=1.0), "PROB_THRES"), (dict(prob=1.0), "PROB"), (dict(decim=0), "DECIM"),
    (dict(scale=0.0), "SCALE"), (dict(tile=16, scale=0.1), "SCALE 0.1 shrinks"), (dict(batch_size=0), "--batch-size"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(InputError, match=message):
        fast_params(**kwargs)


def test_image_smaller_than_a_tile_and_weak_prob_are_refused(quadrants):
    image, _ = quadrants
    with pytest.raises(InputError, match="smaller than one 96 px tile"):
        segment(image[:50], MeanColourClassifier(), fast_params(tile=96))
    with pytest.raises(InputError, match="must exceed 1/N"):
        segment(image, MeanColourClassifier(), fast_params(prob=0.25))


@pytest.fixture
def files(tmp_path, quadrants):
    from dl_tools.io.images import write_image

    image, _ = quadrants
    write_image(tmp_path / "IMG_1.png", image)
    write_image(tmp_path / "IMG_2.png", image[:, ::-1].copy())
    write_labels(tmp_path / "labels.txt", LABELS)
    # labeldefs in another order than the labels: matched by name
    order = [2, 0, 3, 1]
    write_labeldefs(tmp_path / "labeldefs.txt", [LABELS[k] for k in order], QUADRANT_COLORS[order].astype(np.uint8))
    (tmp_path / "model.pb").write_bytes(b"")  # never read: the classifier is injected
    return tmp_path


def test_segment_files_writes_outputs(files):
    run = segment_files([files / "IMG_1.png"], files / "model.pb", files / "labels.txt", files / "labeldefs.txt",
                        fast_params(decim=2), classifier=MeanColourClassifier())
    (result,) = run.outputs
    assert run.skipped == []
    assert result.mat == files / "IMG_1_ares_16.mat" and result.geotiff is None
    assert result.figure.is_file() and result.color.is_file()
    mat = read_label_mat(result.mat)
    assert mat.labels == LABELS and mat.shape == (80, 120)
    assert mat.sparse is not None and set(np.unique(mat.sparse)) <= {0, 1, 2, 3, 4}
    from dl_tools.io.images import read_image

    color = read_image(result.color)
    assert (color[5, 5] == QUADRANT_COLORS[0]).all() and (color[75, 115] == QUADRANT_COLORS[3]).all()
    with pytest.raises(InputError, match="already exists; give --overwrite"):
        segment_files([files / "IMG_1.png"], files / "model.pb", files / "labels.txt", files / "labeldefs.txt",
                      fast_params(decim=2), classifier=MeanColourClassifier())


def test_geotiff_input_gets_a_geotiff(tmp_path, quadrants):
    rasterio = pytest.importorskip("rasterio")
    from affine import Affine

    image, truth = quadrants
    path = tmp_path / "ortho.tif"
    with rasterio.open(path, "w", driver="GTiff", width=120, height=80, count=3, dtype="uint8", crs="EPSG:32618",
                       transform=Affine(0.5, 0, 400000, 0, -0.5, 3900000)) as dst:
        dst.write(np.moveaxis(image, -1, 0))
    write_labels(tmp_path / "labels.txt", LABELS)
    write_colors(tmp_path / "colors.txt", QUADRANT_COLORS.astype(np.uint8))
    (result,) = segment_files([path], tmp_path / "m.pb", tmp_path / "labels.txt", tmp_path / "colors.txt",
                              fast_params(), outdir=tmp_path / "out", classifier=MeanColourClassifier()).outputs
    assert result.geotiff == tmp_path / "out" / "ortho_ares_16.tif"
    with rasterio.open(result.geotiff) as src:
        assert src.crs.to_epsg() == 32618 and src.transform == Affine(0.5, 0, 400000, 0, -0.5, 3900000)
        assert (src.read(1) == truth).mean() > 0.95
    from dl_tools.io.provenance import read_record
    from dl_tools.provenance_record import input_file

    record = read_record(result.geotiff)  # in the GeoTIFF's tags, as in the .mat
    assert record == read_record(result.mat) and record["step"] == "hybrid"
    assert record["inputs"] == [input_file("image", path), input_file("labels", tmp_path / "labels.txt"),
                                input_file("colors", tmp_path / "colors.txt")]  # the stand-in model has no file
    assert record["settings"]["tile"] == fast_params().tile


def test_model_and_labels_must_agree(files):
    write_labels(files / "labels3.txt", LABELS[:3])
    with pytest.raises(InputError, match="predicts 4 classes but labels file .* names 3"):
        segment_files([files / "IMG_1.png"], files / "model.pb", files / "labels3.txt", files / "labeldefs.txt",
                      fast_params(), classifier=MeanColourClassifier())


def test_color_files(files):
    colors = read_class_colors(files / "labeldefs.txt", LABELS)
    assert (colors == QUADRANT_COLORS.astype(np.uint8)).all()
    write_colors(files / "three.txt", QUADRANT_COLORS[:3].astype(np.uint8))
    with pytest.raises(InputError, match="has 4 classes but colour file"):
        read_class_colors(files / "three.txt", LABELS)
    write_labeldefs(files / "partial.txt", ["red", "green"], QUADRANT_COLORS[:2].astype(np.uint8))
    with pytest.raises(InputError, match="no colour for class\\(es\\) 'blue', 'yellow'"):
        read_class_colors(files / "partial.txt", LABELS)
    # retrain-style spelling ("dry land" for "dry_land") still finds its colour
    write_labeldefs(files / "spelling.txt", ["dry_land", "Water"], np.array([[1, 2, 3], [4, 5, 6]], np.uint8))
    assert read_class_colors(files / "spelling.txt", ["water", "dry land"]).tolist() == [[4, 5, 6], [1, 2, 3]]


def test_input_dir_skips_dl_tools_outputs(files):
    (files / "IMG_1_ares_16_color.png").write_bytes((files / "IMG_1.png").read_bytes())
    (files / "IMG_1_mres.png").write_bytes((files / "IMG_1.png").read_bytes())
    assert [p.name for p in images_to_segment(files)] == ["IMG_1.png", "IMG_2.png"]


def test_input_dir_skips_every_file_dl_tools_writes(files, tmp_path):
    """The names each step writes (taken from the steps' own code where it names them) are never segmented;
    photographs whose names merely resemble them are."""
    from dl_tools import file_contract
    from dl_tools.io.images import read_image, write_image
    from dl_tools.workflows import fcn_infer, hybrid, label

    image = read_image(files / "IMG_1.png")
    written = [*label.output_paths(files / "IMG_1.png", None, geotiff=True).values(),  # step 2
               files / file_contract.TILE_EVAL_FIGURE,  # step 5
               *hybrid.output_paths(files / "IMG_1.png", 96, None).values(),  # step 6
               files / "IMG_1_ares_96_cm.png", files / "pixel_eval_cm.png", files / "pixel_eval_ares_crf_cm.png",  # 7
               *file_contract.label_id_outputs(files, "IMG_1").values(),  # step 8a
               files / file_contract.TRAINING_CURVES]  # step 8b
    for tag in ("", "_crf"):  # steps 8c and 8d
        written += fcn_infer.output_paths(files, files / "IMG_1_RGB.jpg", tag, georeferenced=True).values()
        written += file_contract.fcn_large_outputs(files, "IMG_1", tag, probabilities=True).values()
    for path in written:
        if path.suffix in (".png", ".jpg", ".tif"):
            write_image(path, image) if path.suffix != ".tif" else path.write_bytes(b"II*\x00")
    resembling = ["colour_survey.png", "label_site_color2.jpg", "overlay.png", "IMG_cmyk.png", "Scribbles_1.jpg"]
    for name in resembling:
        write_image(files / name, image)
    found = [p.name for p in images_to_segment(files)]
    assert found == sorted(["IMG_1.png", "IMG_2.png", *resembling]), found
    only_outputs = tmp_path / "outputs_only"
    only_outputs.mkdir()
    for name in ("test_cm.png", "IMG_1_scribbles.png", "IMG_1_mres.png"):
        write_image(only_outputs / name, image)
    with pytest.raises(InputError, match="--input-dir: .*outputs_only holds only files written by DL tools "
                                         r"\(IMG_1_mres.png, IMG_1_scribbles.png, test_cm.png\), no photograph"):
        images_to_segment(only_outputs)


def test_cli_bad_input(files):
    script = "semseg_crf/semseg_cnn_crf.py"
    tail = ["model.pb", "labels.txt", "labeldefs.txt", "16", "0.5", "0.6", "1", "1.0"]
    proc = run_script(script, "-", *tail, cwd=files, check_rc=2)
    assert proc.stderr.startswith("error: IMAGE '-' needs --input-dir")
    proc = run_script(script, "IMG_1.png", *tail, "--input-dir", ".", cwd=files, check_rc=2)
    assert "give IMAGE as '-' with --input-dir" in proc.stderr
    proc = run_script(script, "nope.png", *tail, cwd=files, check_rc=2)
    assert "IMAGE nope.png does not exist" in proc.stderr
    proc = run_script(script, "IMG_1.png", *tail[:3], "16", "0.5", "0.6", "1", "0", cwd=files, check_rc=2)
    assert "SCALE: must be in (0, 1]" in proc.stderr


CLI_TAIL = ["model.pb", "labels.txt", "labeldefs.txt", "16", "0.9", "0.6", "1", "1.0"]


@pytest.fixture
def stand_in_cli(files, monkeypatch):
    """semseg_cnn_crf's main run in ``files`` with MeanColourClassifier for the model (no TensorFlow):
    (run(*argv) -> exit code, list of the model paths loaded). Its output goes to the test's capsys."""
    from dl_tools.cli.semseg_cnn_crf import main

    loaded = []
    monkeypatch.setattr("dl_tools.models.frozen.FrozenClassifier", lambda path: loaded.append(path) or
                        MeanColourClassifier())
    monkeypatch.chdir(files)

    def run(*argv):
        return main([str(a) for a in argv])

    return run, loaded


def outputs_in(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*_ares_*"))


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_images_with_the_same_base_name_are_refused_before_the_model(files, stand_in_cli, capsys):
    from dl_tools.io.images import read_image, write_image

    run, loaded = stand_in_cli
    write_image(files / "IMG_1.jpg", read_image(files / "IMG_1.png"))
    assert run("-", *CLI_TAIL, "--input-dir", ".") == 2
    assert ("IMG_1.jpg and IMG_1.png would both be written as IMG_1_ares_16.mat (and the other outputs); rename one"
            in one_line_error(capsys))
    assert loaded == [] and outputs_in(files) == []


@pytest.mark.parametrize("content, message", [
    (b"not an image", "IMG_3.png is not a readable image (.*); remove it from --input-dir"),
    (None, r"IMG_3.png: the image \(120 x 10 px\) is smaller than one 16 px tile; remove it from --input-dir"),
])
def test_a_bad_image_in_a_folder_stops_the_run_before_the_model(files, stand_in_cli, capsys, quadrants, content,
                                                                 message):
    from dl_tools.io.images import write_image

    run, loaded = stand_in_cli
    if content is None:
        write_image(files / "IMG_3.png", quadrants[0][:10])
    else:
        (files / "IMG_3.png").write_bytes(content)
    assert run("-", *CLI_TAIL, "--input-dir", ".") == 2  # IMG_3 comes last: IMG_1 and IMG_2 would have been done
    assert re.search(message, one_line_error(capsys))
    assert loaded == [] and outputs_in(files) == []


def test_folder_run_skips_an_image_without_a_confident_tile(files, stand_in_cli, capsys):
    from dl_tools.io.images import write_image

    run, loaded = stand_in_cli
    write_image(files / "IMG_0.png", np.full((80, 120, 3), 128, np.uint8))  # equally far from two class colours
    assert run("-", *CLI_TAIL, "--input-dir", ".") == 1
    out, err = capsys.readouterr()
    assert out.count("IMG_1.png: ") == 1 and out.count("IMG_2.png: ") == 1 and "IMG_0" not in out
    assert "tiles used" not in err  # the summary is printed once, on stdout
    assert "not segmented: IMG_0.png: no tile reached PROB_THRES 0.9" in err
    assert err.splitlines()[-1].startswith("error: 1 of 3 images not segmented (reasons above): IMG_0.png; the "
                                           "others' outputs are written")
    assert [p for p in outputs_in(files) if p.endswith(".mat")] == ["IMG_1_ares_16.mat", "IMG_2_ares_16.mat"]
    # alone, the same image is an error, and nothing is written
    assert run("IMG_0.png", *CLI_TAIL) == 2
    assert one_line_error(capsys).startswith("error: IMG_0.png: no tile reached PROB_THRES 0.9")
    assert not any(p.startswith("IMG_0") for p in outputs_in(files))
    with pytest.raises(InputError, match="the only image of --input-dir was not segmented .*nothing written.*: "
                                         "IMG_0.png: segment it alone .* lower PROB_THRES or DECIM"):
        segment_files([files / "IMG_0.png"], files / "model.pb", files / "labels.txt", files / "labeldefs.txt",
                      fast_params(prob_thres=0.9), classifier=MeanColourClassifier(), in_folder=True)


def _damaged_jpeg(path, image):
    """A JPEG cut short (as by an interrupted copy): its header reads, its pixel data do not."""
    from dl_tools.io.images import write_image

    write_image(path, image)
    path.write_bytes(path.read_bytes()[:1000])


def test_folder_run_skips_a_damaged_image_with_advice_that_fits(files, stand_in_cli, capsys, quadrants):
    """A damaged image and one without a confident tile are skipped, each named with its own fix; the others are
    segmented, exit status 1. A folder of damaged images only: exit 2, nothing written."""
    from dl_tools.io.images import image_shape, write_image

    run, loaded = stand_in_cli
    _damaged_jpeg(files / "IMG_3.jpg", quadrants[0])
    assert image_shape(files / "IMG_3.jpg") == (80, 120)  # the checks before the model let it through
    write_image(files / "IMG_0.png", np.full((80, 120, 3), 128, np.uint8))  # no tile reaches PROB_THRES 0.9
    assert run("-", *CLI_TAIL, "--input-dir", ".") == 1
    out, err = capsys.readouterr()
    assert "warning: not segmented: IMG_3.jpg is not a readable image" in err
    last = err.splitlines()[-1]
    assert last == ("error: 2 of 4 images not segmented (reasons above): IMG_0.png, IMG_3.jpg; the others' outputs "
                    "are written. IMG_0.png: segment it alone (IMAGE instead of --input-dir) with a lower PROB_THRES "
                    "or DECIM; IMG_3.jpg: replace it with an undamaged copy, then segment it alone (IMAGE instead of "
                    "--input-dir)"), last
    assert [p for p in outputs_in(files) if p.endswith(".mat")] == ["IMG_1_ares_16.mat", "IMG_2_ares_16.mat"]
    damaged = files / "damaged"
    damaged.mkdir()
    for name in ("a.jpg", "b.jpg"):
        _damaged_jpeg(damaged / name, quadrants[0])
    assert run("-", *CLI_TAIL, "--input-dir", "damaged", "--outdir", "out") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error: ") == 1
    assert err.splitlines()[-1] == ("error: none of the 2 images of --input-dir was segmented (reasons above; nothing "
                                    "written): a.jpg, b.jpg: replace it with an undamaged copy, then segment it alone "
                                    "(IMAGE instead of --input-dir)")
    assert sorted(p.name for p in damaged.iterdir()) == ["a.jpg", "b.jpg"] and not (files / "out").exists()
    # a single damaged image is an error (exit 2) naming it
    assert run("damaged/a.jpg", *CLI_TAIL) == 2
    assert "damaged/a.jpg is not a readable image" in one_line_error(capsys)


@pytest.mark.parametrize("kind", ["nan", "nodata"])
def test_no_data_pixels_of_a_tiff_get_no_class(tmp_path, quadrants, kind):
    """Rows without data (NaN in a float GeoTIFF without a declared no-data value, or a declared no-data value)
    are 255 in the label GeoTIFF and uncoloured in the colour image; the .mat keeps a class everywhere and marks
    them in its nodata mask."""
    rasterio = pytest.importorskip("rasterio")
    from affine import Affine

    from dl_tools.file_contract import LABEL_NODATA
    from dl_tools.io.images import read_raw

    image, truth = quadrants
    if kind == "nan":
        bands = np.moveaxis(image, -1, 0).astype(np.float32) / 255
        bands[:, :8] = np.nan
        profile = dict(dtype="float32")
    else:
        bands = np.moveaxis(np.maximum(image, 1), -1, 0)
        bands[:, :8] = 0
        profile = dict(dtype="uint8", nodata=0)
    path = tmp_path / "ortho.tif"
    with rasterio.open(path, "w", driver="GTiff", width=120, height=80, count=3, crs="EPSG:32618",
                       transform=Affine(0.5, 0, 400000, 0, -0.5, 3900000), **profile) as dst:
        dst.write(bands)
    write_labels(tmp_path / "labels.txt", LABELS)
    write_colors(tmp_path / "colors.txt", QUADRANT_COLORS.astype(np.uint8))
    (result,) = segment_files([path], tmp_path / "m.pb", tmp_path / "labels.txt", tmp_path / "colors.txt",
                              fast_params(prob_thres=0.0), classifier=MeanColourClassifier()).outputs
    with rasterio.open(result.geotiff) as src:
        classes = src.read(1)
        assert src.nodata == LABEL_NODATA
    assert (classes[:8] == LABEL_NODATA).all()
    assert (classes[8:] < 4).all() and (classes[8:] == truth[8:]).mean() > 0.9
    color = read_raw(result.color)
    assert (color[:8] == 0).all() and (color[8:].max(axis=2) > 0).all()
    label_file = read_label_mat(result.mat)
    assert label_file.label_image.max() < 4  # a class everywhere, as legacy readers expect
    np.testing.assert_array_equal(label_file.nodata, classes == LABEL_NODATA)


def test_outputs_that_cannot_be_written_are_refused_before_the_model(files, stand_in_cli, capsys):
    run, loaded = stand_in_cli
    (files / "afile").write_text("not a folder")
    assert run("IMG_1.png", *CLI_TAIL, "--outdir", "afile/sub") == 2
    assert "--outdir afile/sub: afile is a file, not a folder; give --outdir a folder you can write to" in \
        one_line_error(capsys)
    (files / "IMG_1_ares_16.png").mkdir()
    for overwrite in (["--overwrite"], []):  # --overwrite never replaces a folder, so it is not the advice
        assert run("IMG_1.png", *CLI_TAIL, *overwrite) == 2
        assert "IMG_1_ares_16.png is a folder; rename or remove the folder" in one_line_error(capsys)
    (files / "IMG_1_ares_16.png").rmdir()
    (files / "IMG_1_ares_16.png").write_bytes(b"earlier figure")
    assert run("IMG_1.png", *CLI_TAIL) == 2
    assert "IMG_1_ares_16.png already exists; give --overwrite" in one_line_error(capsys)
    assert loaded == [] and outputs_in(files) == ["IMG_1_ares_16.png"]


def test_a_folder_given_for_a_file_is_named_as_such(files, stand_in_cli, capsys):
    run, loaded = stand_in_cli
    (files / "imgs").mkdir()
    assert run("imgs", *CLI_TAIL) == 2
    assert "IMAGE imgs is a folder; to segment every image in it give IMAGE as '-' and --input-dir imgs" in \
        one_line_error(capsys)
    (files / "models").mkdir()
    (files / "models" / "m.pb").write_bytes(b"")
    assert run("IMG_1.png", "models", *CLI_TAIL[1:]) == 2
    assert ("MODEL.pb models is a folder, not a model file; give the frozen .pb file written by retrain.py "
            "--output_graph, e.g. models/m.pb") in one_line_error(capsys)
    assert loaded == [] and outputs_in(files) == []


def test_a_saved_model_folder_given_as_model_is_named_as_such(files, stand_in_cli, capsys):
    """Only frozen graphs are suggested: a SavedModel's saved_model.pb and fingerprint.pb are not models to give."""
    run, loaded = stand_in_cli
    (files / "sm" / "variables").mkdir(parents=True)
    for name in ("saved_model.pb", "fingerprint.pb"):
        (files / "sm" / name).write_bytes(b"")
    assert run("IMG_1.png", "sm", *CLI_TAIL[1:]) == 2
    assert one_line_error(capsys) == ("error: MODEL.pb sm is a SavedModel folder; give the frozen .pb file written "
                                      "by retrain.py --output_graph\n")
    (files / "sm" / "saved_model.pb").unlink()  # not a SavedModel any more, and still no frozen graph in it
    assert run("IMG_1.png", "sm", *CLI_TAIL[1:]) == 2
    err = one_line_error(capsys)
    assert "sm is a folder, not a model file; give the frozen .pb" in err and "fingerprint" not in err
    assert loaded == [] and outputs_in(files) == []


def test_help_imports_no_tensorflow_or_pydensecrf():
    code = ("import runpy, sys\n"
            "sys.argv = [sys.argv[1], '--help']\n"
            "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('tensorflow', 'pydensecrf', 'pydensecrf.densecrf') if m in sys.modules])")
    for script in ("semseg_crf/semseg_cnn_crf.py", "eval_semseg/test_pixels.py"):
        proc = subprocess.run([sys.executable, "-c", code, str(REPO / script)], capture_output=True, text=True)
        assert "usage:" in proc.stdout and "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def _tiny_color_model(path, size=16):
    """A real frozen .pb: softmax of minus the squared distance of a tile's mean colour to the quadrant colours."""
    import tensorflow as tf

    from dl_tools.models.frozen import export_frozen_graph

    centres = tf.constant(QUADRANT_COLORS / 255.0)

    def probs(images):
        means = tf.reduce_mean(images, axis=[1, 2])
        return tf.nn.softmax(-tf.reduce_sum((means[:, None, :] - centres[None]) ** 2, axis=-1) * 100.0)

    export_frozen_graph(probs, (size, size), path)


def test_cli_with_a_real_frozen_model(files):
    pytest.importorskip("tensorflow")
    _tiny_color_model(files / "model.pb")
    proc = run_script("semseg_crf/semseg_cnn_crf.py", "-", "model.pb", "labels.txt", "labeldefs.txt", "16", "0.5",
                      "0.6", "2", "0.5", "--input-dir", ".", "--outdir", "out", cwd=files)
    assert "IMG_1.png:" in proc.stdout and "IMG_2.png:" in proc.stdout
    mat = read_label_mat(files / "out" / "IMG_1_ares_16.mat")
    assert mat.labels == LABELS and mat.shape == (80, 120)
    image_truth = np.zeros((80, 120), int)
    image_truth[:40, 60:], image_truth[40:, :60], image_truth[40:, 60:] = 1, 2, 3
    assert (mat.label_image == image_truth).mean() > 0.95
    write_labels(files / "labels5.txt", LABELS + ["extra"])
    write_labeldefs(files / "defs5.txt", LABELS + ["extra"], np.zeros((5, 3), np.uint8))
    with pytest.raises(InputError, match="predicts 4 classes but labels file .*labels5.txt names 5"):
        segment_files([files / "IMG_1.png"], files / "model.pb", files / "labels5.txt", files / "defs5.txt",
                      fast_params(), outdir=files / "out5")  # the real model, loaded in this process


def test_a_decompression_bomb_is_unreadable_alone_and_skipped_in_a_folder(files, stand_in_cli, capsys):
    """A 778-byte PNG whose header claims 60000 x 60000 px: alone, the one-line error of any unreadable image and
    nothing written; in a folder, skipped and named while the images before and after it are segmented (exit 1)."""
    from bad_images import png_bomb

    run, loaded = stand_in_cli
    png_bomb(files / "IMG_1b.png")  # sorted between IMG_1.png and IMG_2.png
    reason = "IMG_1b.png is not a readable image (its header claims 60000 x 60000 px, more than 778 bytes of PNG"
    assert run("IMG_1b.png", *CLI_TAIL) == 2
    assert one_line_error(capsys).startswith(f"error: {reason}")
    assert outputs_in(files) == []
    assert run("-", *CLI_TAIL, "--input-dir", ".") == 1
    out, err = capsys.readouterr()
    assert f"warning: not segmented: {reason}" in err and "Traceback" not in err
    assert err.splitlines()[-1] == ("error: 1 of 3 images not segmented (reasons above): IMG_1b.png; the others' "
                                    "outputs are written. IMG_1b.png: replace it with an undamaged copy, then segment "
                                    "it alone (IMAGE instead of --input-dir)")
    assert [p for p in outputs_in(files) if p.endswith(".mat")] == ["IMG_1_ares_16.mat", "IMG_2_ares_16.mat"]
