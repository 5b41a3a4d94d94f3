"""Method 2 library: make_labels, sample pairing, tiling with blending, the FCN and its input pipeline."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from dl_tools.arrays.tiling import blend_weights, plan_windows, predict_tiled
from dl_tools.errors import InputError
from dl_tools.file_contract import sample_name
from dl_tools.io.images import read_raw, write_image
from dl_tools.io.mat import LabelFile, write_label_mat
from dl_tools.io.text import find_labeldefs, write_labeldefs
from dl_tools.workflows.fcn_train import find_pairs
from dl_tools.workflows.make_labels import MakeLabelsParams, find_manual_labels, make_labels

LABELS = ["water", "sand", "veg"]
COLORS = np.array([[0, 0, 255], [255, 255, 0], [0, 255, 0]], dtype=np.uint8)


# --- make_labels ---------------------------------------------------------------------------------------------------

@pytest.fixture
def gt_folder(tmp_path):
    """data/labeldefs.txt (water, sand, veg) and data/labels/gtFine/train/data/a_mres.mat whose `labels` are in
    another order (veg, water, sand)."""
    write_labeldefs(tmp_path / "data" / "labeldefs.txt", LABELS, COLORS)
    folder = tmp_path / "data" / "labels" / "gtFine" / "train" / "data"
    mat_classes = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)  # indices into the .mat's own order
    write_label_mat(folder / "a_mres.mat", LabelFile(label_image=mat_classes, labels=["veg", "water", "sand"]))
    return folder


def test_make_labels_maps_classes_by_name(gt_folder):
    labeldefs = find_labeldefs(gt_folder)
    assert labeldefs == (gt_folder.parents[3] / "labeldefs.txt").resolve()
    result = make_labels(gt_folder, labeldefs, MakeLabelsParams())
    assert len(result.written) == 2
    ids = read_raw(gt_folder / "a_gtFine_labelIds.png")
    # .mat order veg, water, sand -> labeldefs order water(0), sand(1), veg(2)
    np.testing.assert_array_equal(ids, [[2, 0, 1], [1, 0, 2]])
    color = read_raw(gt_folder / "a_gtFine_color.png")
    np.testing.assert_array_equal(color[0, 0], [0, 255, 0])  # veg
    np.testing.assert_array_equal(color[0, 2], [255, 255, 0])  # sand
    with pytest.raises(InputError, match="--overwrite"):
        make_labels(gt_folder, labeldefs, MakeLabelsParams())
    make_labels(gt_folder, labeldefs, MakeLabelsParams(overwrite=True, median_radius=1))


def test_make_labels_marks_pixels_without_data(gt_folder):
    """Pixels of the .mat's nodata mask are 255 in the labelIds image (never trained on) and black in the colours,
    with or without the median filter."""
    mat = gt_folder / "a_mres.mat"
    write_label_mat(mat, LabelFile(np.array([[0, 1, 2], [2, 1, 0]], np.uint8), ["veg", "water", "sand"],
                                   nodata=np.array([[True, False, False], [False, False, True]])), overwrite=True)
    for radius in (0, 1):
        make_labels(gt_folder, find_labeldefs(gt_folder), MakeLabelsParams(median_radius=radius, overwrite=True))
        ids = read_raw(gt_folder / "a_gtFine_labelIds.png")
        assert ids[0, 0] == ids[1, 2] == 255
        if not radius:
            np.testing.assert_array_equal(ids, [[255, 0, 1], [1, 0, 255]])
        color = read_raw(gt_folder / "a_gtFine_color.png")
        np.testing.assert_array_equal(color[[0, 1], [0, 2]], 0)


def test_read_label_ids_takes_255_as_no_data(tmp_path):
    from dl_tools.workflows.fcn_train import read_label_ids

    write_image(tmp_path / "ok.png", np.array([[0, 2, 255]], np.uint8))
    np.testing.assert_array_equal(read_label_ids(tmp_path / "ok.png", 3), [[0, 2, 255]])
    write_image(tmp_path / "bad.png", np.array([[0, 3, 255]], np.uint8))
    with pytest.raises(InputError, match=r"bad.png holds class 3 but labeldefs defines 3 classes \(0..2, and 255"):
        read_label_ids(tmp_path / "bad.png", 3)


def test_make_labels_class_missing_from_labeldefs(gt_folder, tmp_path):
    short = tmp_path / "short.txt"
    write_labeldefs(short, ["water", "sand"], COLORS[:2])
    with pytest.raises(InputError) as info:
        make_labels(gt_folder, short, MakeLabelsParams())
    message = str(info.value)
    assert "['veg']" in message and "['veg', 'water', 'sand']" in message and "['water', 'sand']" in message
    assert not list(gt_folder.glob("*.png"))  # nothing written


def test_make_labels_errors(tmp_path):
    with pytest.raises(InputError, match="no \\*_mres.mat"):
        make_labels(tmp_path, tmp_path / "labeldefs.txt", MakeLabelsParams())
    with pytest.raises(InputError, match="--median"):
        MakeLabelsParams(median_radius=-1)
    (tmp_path / "a_mres.mat").write_bytes(b"")
    with pytest.raises(InputError, match="is a file, not a folder; give the folder"):
        find_manual_labels(tmp_path / "a_mres.mat")
    with pytest.raises(InputError, match="does not exist"):
        find_manual_labels(tmp_path / "nowhere")


# --- pairing of samples and label images ---------------------------------------------------------------------------

def test_find_pairs_skips_unlabelled_samples(tmp_path, caplog):
    samples = tmp_path / "samples" / "RGB" / "train" / "data"
    labels = tmp_path / "labels" / "gtFine" / "train" / "data"
    image = np.zeros((4, 4, 3), np.uint8)
    write_image(samples / "a_RGB.jpg", image)
    write_image(samples / "b_RGB.png", image)
    with pytest.raises(InputError, match="make_labels.py"):
        find_pairs(tmp_path, "train")
    write_image(labels / "a_gtFine_labelIds.png", np.zeros((4, 4), np.uint8))
    with caplog.at_level(logging.WARNING):
        pairs = find_pairs(tmp_path, "train")
    assert [(sample.name, label.name) for sample, label in pairs] == [("a_RGB.jpg", "a_gtFine_labelIds.png")]
    assert "b_RGB.png" in caplog.text
    assert sample_name(samples / "a_RGB.jpg") == "a" and sample_name(samples / "plain.tif") == "plain"
    with pytest.raises(InputError, match="samples/RGB/val"):
        find_pairs(tmp_path, "val")


def test_find_pairs_names_the_data_dir(tmp_path):
    with pytest.raises(InputError) as info:
        find_pairs(tmp_path / "nosuch", "val")
    message = str(info.value)
    assert message.startswith("--data-dir") and "labels/gtFine/val" in message and "{split}" not in message
    (tmp_path / "samples" / "RGB" / "train" / "data").mkdir(parents=True)
    (tmp_path / "samples" / "RGB" / "train" / "data" / "notes.txt").write_text("not an image")
    with pytest.raises(InputError, match="no images in") as info:
        find_pairs(tmp_path, "train")
    assert "make_labels" not in str(info.value)


# --- inference plan: every image and output checked before the network runs ------------------------------------------

def _samples(folder, *names):
    for name in names:
        write_image(folder / name, np.zeros((8, 8, 3), np.uint8))
    return sorted(folder.iterdir())


def test_plan_outputs_refuses_colliding_names(tmp_path):
    from dl_tools.workflows.fcn_infer import FCNInferParams, plan_outputs

    samples = _samples(tmp_path / "in", "a_RGB.jpg", "a.png", "b.png")
    with pytest.raises(InputError) as info:
        plan_outputs(samples, tmp_path / "out", FCNInferParams())
    assert "--samples-dir" in str(info.value) and "a.png" in str(info.value) and "a_RGB.jpg" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_plan_outputs_checks_every_image_and_output_first(tmp_path):
    from dl_tools.workflows.fcn_infer import FCNInferParams, plan_outputs

    samples = _samples(tmp_path / "in", "a.png", "b.png")
    params = FCNInferParams()
    assert [sorted(paths) for _, _, paths in plan_outputs(samples, tmp_path / "out", params)] == \
        [["color", "label", "mat", "overlay"]] * 2
    write_image(tmp_path / "out" / "b_label.png", np.zeros((8, 8), np.uint8))  # the LAST image's output exists
    with pytest.raises(InputError, match="b_label.png already exists"):
        plan_outputs(samples, tmp_path / "out", params)
    plan_outputs(samples, tmp_path / "out", FCNInferParams(overwrite=True))
    for bad, content in (("c.jpg", b"not a jpeg"), ("d.tif", b"II*\x00broken")):
        (tmp_path / "in" / bad).write_bytes(content)
        with pytest.raises(InputError, match=f"{bad} is not a readable image"):
            plan_outputs([*samples, tmp_path / "in" / bad], tmp_path / "out2", params)
        (tmp_path / "in" / bad).unlink()
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(InputError, match="--output-dir"):
        plan_outputs(samples, tmp_path / "afile", params)
    (tmp_path / "out3" / "a_overlay.png").mkdir(parents=True)  # an output name taken by a folder
    for overwrite in (False, True):
        with pytest.raises(InputError, match="a_overlay.png is a folder; rename or remove the folder"):
            plan_outputs(samples, tmp_path / "out3", FCNInferParams(overwrite=overwrite))


def test_mask_nodata_marks_pixels_without_data(tmp_path):
    """No data = a declared no-data value, NaN in a float band (declared or not), a zero alpha band."""
    import rasterio

    from dl_tools.file_contract import LABEL_NODATA
    from dl_tools.io.geotiff import mask_nodata, nodata_mask

    band = np.full((4, 6), 7, np.uint8)
    band[:, :2] = 0
    with rasterio.open(tmp_path / "holes.tif", "w", driver="GTiff", width=6, height=4, count=1, dtype="uint8",
                       nodata=0) as dst:
        dst.write(band, 1)
    floats = np.full((2, 4, 6), 0.5, np.float32)
    floats[1, :, :2] = np.nan  # NaN in one band is enough
    with rasterio.open(tmp_path / "nan.tif", "w", driver="GTiff", width=6, height=4, count=2,
                       dtype="float32") as dst:
        dst.write(floats)
    rgba = np.full((4, 4, 6), 200, np.uint8)
    rgba[3, :, :2] = 0
    with rasterio.open(tmp_path / "alpha.tif", "w", driver="GTiff", width=6, height=4, count=4, dtype="uint8",
                       photometric="RGB", alpha="YES") as dst:
        dst.write(rgba)
    label_image = np.ones((4, 6), np.uint8)
    for name in ("holes.tif", "nan.tif", "alpha.tif"):
        nodata = nodata_mask(tmp_path / name)
        assert nodata.dtype == bool and nodata[:, :2].all() and not nodata[:, 2:].any(), name
        masked = mask_nodata(label_image, nodata)
        assert masked.dtype == np.uint8
        np.testing.assert_array_equal(masked[:, :2], LABEL_NODATA, err_msg=name)
        np.testing.assert_array_equal(masked[:, 2:], 1, err_msg=name)
    with rasterio.open(tmp_path / "full.tif", "w", driver="GTiff", width=6, height=4, count=1, dtype="uint8",
                       nodata=0) as dst:
        dst.write(np.full((4, 6), 7, np.uint8), 1)
    assert nodata_mask(tmp_path / "full.tif") is None  # every pixel has data
    assert nodata_mask(tmp_path / "photo.png") is None  # not a TIFF: never read
    np.testing.assert_array_equal(mask_nodata(label_image, None), label_image)


# --- tiling --------------------------------------------------------------------------------------------------------

def test_tile_starts_cover_with_overlap():
    assert plan_windows((50, 50), 64, overlap=0.25).tops.tolist() == [0]
    starts = plan_windows((300, 1), (64, 1), overlap=0.25).tops.tolist()
    assert starts[0] == 0 and starts[-1] == 300 - 64
    assert all(0 < b - a <= 48 for a, b in zip(starts, starts[1:]))
    window = blend_weights((8, 10))
    assert window.shape == (8, 10) and window.min() > 0 and window.max() <= 1


@pytest.mark.parametrize("shape", [(20, 30), (64, 96), (150, 333)])
def test_predict_tiled_reproduces_a_pixelwise_network(shape):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, shape + (3,)).astype(np.uint8)
    calls = []

    def predict(tiles):  # a "network" whose output is a function of each pixel: blending must give it back
        calls.append(tiles.shape)
        return np.concatenate([tiles / 255.0, 1.0 - tiles[..., :1] / 255.0], axis=-1)

    probs = predict_tiled(image, predict, (64, 96), overlap=0.25, batch_size=3)
    assert probs.shape == shape + (4,)
    np.testing.assert_allclose(probs[..., :3], image / 255.0, atol=1e-5)
    assert all(c[1:3] == (64, 96) for c in calls)
    assert (len(calls) > 1) == (shape == (150, 333))


# --- colour standardisation and inference options -------------------------------------------------------------------

def test_standardise_channels_known_answer():
    from dl_tools.arrays.color import standardise_channels

    image = np.zeros((2, 2, 3), np.uint8)
    image[0, :, 0] = 10  # channel 0: 10, 10, 30, 30 -> mean 20, deviation 10 -> 128 -/+ 48
    image[1, :, 0] = 30
    image[..., 1] = 77  # flat channel -> the target mean
    image[..., 2] = [[0, 255], [0, 255]]
    out = standardise_channels(image)
    assert out.dtype == np.uint8 and out.shape == image.shape
    np.testing.assert_array_equal(out[..., 0], [[80, 80], [176, 176]])
    np.testing.assert_array_equal(out[..., 1], 128)
    np.testing.assert_array_equal(out[..., 2], [[80, 176], [80, 176]])
    batch = standardise_channels(np.stack([image, image // 2 + 40]))  # statistics per image: same result
    np.testing.assert_array_equal(batch[0], out)
    np.testing.assert_array_equal(batch[1], out)
    with pytest.raises(ValueError, match="shape"):
        standardise_channels(np.zeros((4, 4)))


class _ColumnRampModel:
    """A fake network: class 0's probability rises from left to right across each tile, class 1 takes the rest;
    its second output channel also records the tile's mean grey level, so the test sees what the network got."""

    def predict_on_batch(self, tiles):
        ramp = np.linspace(0.0, 1.0, tiles.shape[2], dtype=np.float32)[None, None, :, None]
        first = np.broadcast_to(ramp, tiles.shape[:3] + (1,))
        level = np.broadcast_to(tiles.mean(axis=(1, 2, 3), keepdims=True) / 255.0, tiles.shape[:3] + (1,))
        return np.concatenate([first, 1.0 - first, level], axis=-1)


def test_predict_probs_standardises_the_whole_image():
    from dl_tools.workflows.fcn_infer import RunModel, predict_probs

    rng = np.random.default_rng(3)
    image = rng.integers(60, 140, (32, 64, 3)).astype(np.uint8)
    run = RunModel(model=_ColumnRampModel(), labels=["a", "b", "c"], colors=COLORS, tile_shape=(32, 64),
                   scale=(1.0, 1.0), standardise=True)
    dark, bright = predict_probs(run, image), predict_probs(run, image + 50)  # exposure differs: no difference seen
    np.testing.assert_allclose(dark, bright, atol=1e-6)
    np.testing.assert_allclose(dark[..., 2], 128 / 255.0, atol=0.01)  # the network got the standardised image
    np.testing.assert_allclose(dark[0, :, 0], np.linspace(0, 1, 64), atol=1e-6)
    plain = RunModel(**{**run.__dict__, "standardise": False})
    assert not np.allclose(predict_probs(plain, image)[..., 2], predict_probs(plain, image + 50)[..., 2])


def test_runs_from_before_standardisation_keep_their_colors():
    from dl_tools.workflows.fcn_train import FCNTrainParams, params_from_settings

    old = {"params": {"epochs": 3, "backbone": "tiny", "image_size": [64, 96]}}
    assert params_from_settings(old).standardise is False
    assert params_from_settings({"params": {**old["params"], "standardise": True}}).standardise is True
    assert FCNTrainParams().standardise is True


# --- network and pipeline (TensorFlow) -----------------------------------------------------------------------------

def test_bilinear_kernel_upsamples_constant():
    from dl_tools.models.fcn import bilinear_kernel

    kernel = bilinear_kernel(2, 3)
    assert kernel.shape == (4, 4, 3, 3)
    assert kernel[:, :, 0, 1].sum() == 0
    # each output pixel gets total weight 1 from the input grid (interior), so a constant stays constant
    assert np.isclose(kernel[0::2, 0::2, 0, 0].sum(), 1.0) and np.isclose(kernel[1::2, 1::2, 0, 0].sum(), 1.0)


def test_fcn_builds_and_trains_one_step():
    from dl_tools.models import fcn

    model = fcn.build_fcn(3, (64, 96), "tiny")
    assert model.output_shape == (None, 64, 96, 3)
    with pytest.raises(InputError, match="multiples of 32"):
        fcn.build_fcn(3, (60, 96), "tiny")
    fcn.compile_fcn(model, 3, 1e-2)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (2, 64, 96, 3)).astype(np.uint8)
    labels = np.zeros((2, 64, 96), np.uint8)
    labels[:, :, 48:] = 2
    before = [w.copy() for w in model.get_weights()]
    data = fcn.training_dataset(images, labels, batch_size=2, class_weights=fcn.median_frequency_weights(labels, 3))
    history = model.fit(data, steps_per_epoch=1, epochs=1, verbose=0, shuffle=False,
                        validation_data=fcn.evaluation_dataset(images, labels, 2))
    assert {"loss", "val_loss", "val_mean_iou"} <= set(history.history)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    probs = model.predict_on_batch(images.astype(np.float32))
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-4)


def test_train_backbone_freezes_layers():
    from dl_tools.models import fcn

    def trainable(option):
        model = fcn.build_fcn(3, (64, 64), "tiny", train_backbone=option)
        return {w.path.split("/")[0] for w in model.trainable_weights}

    head = {"score32", "score16", "score8", "up32", "up16", "up8"}
    assert trainable("none") == head
    assert trainable("top") - head == {"tiny_conv4"}
    assert trainable("all") - head == {f"tiny_conv{k}" for k in range(5)}
    with pytest.raises(InputError, match="--train-backbone"):
        fcn.build_fcn(3, (64, 64), "tiny", train_backbone="some")


def test_pipeline_keeps_integer_labels():
    from dl_tools.models import fcn

    rng = np.random.default_rng(1)
    labels = rng.choice(np.array([0, 2, 5], np.uint8), size=(3, 32, 48))
    images = np.repeat(labels[..., None] * 40, 3, axis=3).astype(np.uint8)
    seen = set()
    for image, label in fcn.training_dataset(images, labels, batch_size=3, seed=3).take(4):
        assert label.dtype.name == "uint8" and tuple(label.shape) == (3, 32, 48)
        seen |= set(np.unique(label.numpy()).tolist())
        assert image.dtype.name == "float32" and float(image.numpy().max()) <= 255
    assert seen <= {0, 2, 5}


def test_pixels_without_data_get_weight_zero():
    """NO_CLASS (255) pixels weigh 0 (and get label 0) in training and validation; the others 1 or their class
    weight; without NO_CLASS pixels and class weights no weights are added."""
    from dl_tools.models import fcn

    labels = np.zeros((2, 32, 32), np.uint8)
    labels[:, :, 16:] = 1
    labels[:, :8] = fcn.NO_CLASS
    images = np.full((2, 32, 32, 3), 100, np.uint8)
    _, label, weights = next(iter(fcn.evaluation_dataset(images, labels, 2)))
    np.testing.assert_array_equal(weights.numpy(), labels != fcn.NO_CLASS)
    np.testing.assert_array_equal(label.numpy(), np.where(labels == fcn.NO_CLASS, 0, labels))
    # training: the same augmentation (same seed) of labels with class 2 instead of NO_CLASS shows where it went
    plain = np.where(labels == fcn.NO_CLASS, 2, labels).astype(np.uint8)
    weighted = fcn.training_dataset(images, labels, 2, seed=4, class_weights=np.array([0.5, 2.0]))
    reference = fcn.training_dataset(images, plain, 2, seed=4)
    for (_, label, weights), (_, where) in zip(weighted.take(3), reference.take(3)):
        label, weights, where = label.numpy(), weights.numpy(), where.numpy()
        assert (where == 2).any() and fcn.NO_CLASS not in label
        np.testing.assert_array_equal(weights == 0, where == 2)
        np.testing.assert_array_equal(label, np.where(where == 2, 0, where))
        np.testing.assert_allclose(weights[where < 2], np.where(where[where < 2] == 0, 0.5, 2.0))
    assert len(next(iter(fcn.evaluation_dataset(images, plain, 2)))) == 2  # every pixel counts: no weights


def test_no_data_pixels_change_nothing_in_the_loss():
    """A batch whose NO_CLASS pixels are wrong scores the same loss and mean IoU as the batch without them."""
    from dl_tools.models import fcn

    model = fcn.build_fcn(2, (32, 32), "tiny")
    fcn.compile_fcn(model, 2, 1e-2)
    rng = np.random.default_rng(2)
    images = rng.integers(0, 255, (2, 32, 32, 3)).astype(np.uint8)
    labels = rng.integers(0, 2, (2, 32, 32)).astype(np.uint8)
    masked = labels.copy()
    masked[:, :, :8] = fcn.NO_CLASS
    scores = model.evaluate(fcn.evaluation_dataset(images, masked, 2), verbose=0, return_dict=True)
    weights = np.ones(labels.shape, np.float32)
    weights[:, :, :8] = 0
    expected = model.evaluate(images.astype(np.float32), labels, sample_weight=weights, verbose=0,
                              return_dict=True)
    assert scores["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    assert scores["mean_iou"] == pytest.approx(expected["mean_iou"], rel=1e-5)
    unmasked = model.evaluate(fcn.evaluation_dataset(images, labels, 2), verbose=0, return_dict=True)
    assert unmasked["loss"] != pytest.approx(scores["loss"], rel=1e-3)  # the masked pixels did count before


def test_median_frequency_weights():
    from dl_tools.models.fcn import median_frequency_weights

    labels = np.array([0] * 6 + [1] * 3 + [2] * 1)
    # freq 0.6, 0.3, 0.1 -> median 0.3 -> weights 0.5, 1, 3; class 3 absent -> 0
    np.testing.assert_allclose(median_frequency_weights(labels, 4), [0.5, 1.0, 3.0, 0.0], rtol=1e-6)


class _PixelModel:
    """A fake network whose probabilities at a pixel depend on that pixel alone (so any tiling blends to the same
    map), counting the tiles it is given."""

    def __init__(self):
        self.tiles = 0

    def predict_on_batch(self, tiles):
        self.tiles += len(tiles)
        level = tiles.mean(axis=3, keepdims=True) / 255.0
        return np.concatenate([level, 1.0 - level], axis=-1).astype(np.float32)


def _raster_predictor(cache_mb, shape=(300, 410)):
    from dl_tools.arrays.tiling import plan_windows
    from dl_tools.workflows.fcn_infer import FCNInferParams, RasterPredictor, RunModel

    image = np.random.default_rng(5).integers(0, 256, shape + (3,)).astype(np.uint8)
    run = RunModel(model=_PixelModel(), labels=["a", "b"], colors=COLORS[:2], tile_shape=(32, 64), scale=(0.5, 0.5))
    predictor = RasterPredictor(run, shape, FCNInferParams(batch_size=3), cache_mb=cache_mb)

    def read(row, col, height, width):
        return image[row:row + height, col:col + width]

    windows = plan_windows(shape, 128, edge="mirror")
    return predictor, read, image, [(int(w.core_in_extent[0].start), int(w.core_in_extent[1].start),
                                     w.core_in_extent[0].stop - w.core_in_extent[0].start,
                                     w.core_in_extent[1].stop - w.core_in_extent[1].start) for w in windows]


def test_raster_predictor_runs_each_tile_once_and_keeps_no_more_than_its_cache():
    from dl_tools.arrays.resize import resize_image
    from dl_tools.workflows.fcn_infer import predict_probs

    kept, read, image, cores = _raster_predictor(cache_mb=64)
    without, _, _, _ = _raster_predictor(cache_mb=0)
    whole = resize_image(predict_probs(kept.run, image), image.shape[:2])  # the whole-image run
    kept.run.model.tiles = 0
    for core in cores:
        region = kept.probs(read, *core)
        np.testing.assert_array_equal(region, without.probs(read, *core))  # the cache changes no value
        top, left, height, width = core
        np.testing.assert_allclose(region, whole[top:top + height, left:left + width], atol=1e-5)
    assert kept.predicted == kept.run.model.tiles == len(kept.plan)  # every tile of the plan once
    assert without.predicted > 1.5 * len(without.plan)  # tiles across window borders again for each window
    assert not without._cache


def test_raster_predictor_on_a_raster_whose_network_grid_is_smaller_than_a_tile():
    from dl_tools.arrays.resize import resize_image
    from dl_tools.workflows.fcn_infer import predict_probs

    predictor, read, image, cores = _raster_predictor(cache_mb=64, shape=(40, 100))  # grid 20 x 50, tile 32 x 64
    whole = resize_image(predict_probs(predictor.run, image), image.shape[:2])
    np.testing.assert_allclose(predictor.probs(read, 0, 0, 40, 100), whole, atol=1e-5)
