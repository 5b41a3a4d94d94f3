"""Provenance (issue 19): the record's fields, its round trips in .mat files, GeoTIFF tags (whole and windowed) and
JSON files beside models and runs, model cards, malformed records, and ``dl-tools provenance`` on each kind of
output. The steps that write records are checked on their real outputs here (step 2) and in test_retrain.py,
test_fcn_cli.py and test_tutorial_e2e.py (steps 4 to 8)."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import subprocess
import sys

import numpy as np
import pytest
from conftest import LEGACY_MAT, REPO

import dl_tools
from dl_tools.cli.provenance import main as provenance_main
from dl_tools.errors import InputError
from dl_tools.file_contract import PROVENANCE_TAG, model_sidecars, run_sidecars
from dl_tools.io.geotiff import GeoInfo, read_geotiff_record, write_label_geotiff
from dl_tools.io.mat import PROVENANCE_VARIABLE, LabelFile, read_label_mat, read_mat_record, write_label_mat
from dl_tools.io.model_card import add_test_scores, card_markdown, model_card, read_model_card, write_model_card
from dl_tools.io.provenance import read_record, write_record_file
from dl_tools.provenance_record import (
    build_record,
    command_line,
    git_state,
    input_file,
    input_folder,
    recording,
    sha256_file,
)

ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2's "abc" example


@dataclasses.dataclass(frozen=True)
class _Params:
    tile: int = 96
    scale: float = 0.5
    bands: tuple[int, ...] | None = (3, 2, 1)


def _record(tmp_path, **settings) -> dict:
    (tmp_path / "image.jpg").write_bytes(b"abc")
    with command_line(["label_1image_crf.py", "-s", "0.5", "--image", "my image.jpg"]):
        return build_record("label", _Params(**settings), [input_file("image", tmp_path / "image.jpg")])


def test_the_record_holds_version_command_date_settings_and_input_hashes(tmp_path):
    record = _record(tmp_path)
    assert record["dl_tools"]["version"] == dl_tools.__version__ and record["step"] == "label"
    assert record["argv"] == ["label_1image_crf.py", "-s", "0.5", "--image", "my image.jpg"]
    assert record["command"] == "label_1image_crf.py -s 0.5 --image 'my image.jpg'"  # pastes back into a shell
    date = datetime.datetime.fromisoformat(record["date"])
    assert date.utcoffset() == datetime.timedelta(0)
    assert abs((datetime.datetime.now(datetime.UTC) - date).total_seconds()) < 60
    assert record["settings"] == {"tile": 96, "scale": 0.5, "bands": [3, 2, 1]}
    assert record["inputs"] == [{"role": "image", "path": str(tmp_path / "image.jpg"), "bytes": 3,
                                 "sha256": ABC_SHA256}]
    assert json.loads(json.dumps(record)) == record  # JSON types only


def test_the_git_commit_is_that_of_the_clone(tmp_path):
    commit, dirty = git_state()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert commit == head and len(commit) == 40 and isinstance(dirty, bool)


def test_without_a_clone_or_without_git_the_commit_is_left_out(tmp_path, monkeypatch):
    assert git_state.__wrapped__(tmp_path) == (None, None)  # an installed package: no .git above it
    (tmp_path / ".git").mkdir()
    assert git_state.__wrapped__(tmp_path) == (None, None)  # a broken clone: git fails

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert git_state.__wrapped__(REPO / "src" / "dl_tools") == (None, None)


def test_big_files_are_hashed_in_chunks_and_folders_by_their_listing(tmp_path):
    data = np.random.default_rng(0).bytes(3 * 2**20 + 17)  # several chunks
    (tmp_path / "big.bin").write_bytes(data)
    assert sha256_file(tmp_path / "big.bin") == hashlib.sha256(data).hexdigest()
    folder = tmp_path / "tiles"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "x.jpg").write_bytes(b"abc")
    (folder / "b.jpg").write_bytes(b"")
    entry = input_folder("tiles", folder, [folder / "b.jpg", folder / "a" / "x.jpg"])
    listing = f"a/x.jpg {ABC_SHA256}\nb.jpg {hashlib.sha256(b'').hexdigest()}\n"
    assert entry == {"role": "tiles", "path": str(folder), "files": 2, "bytes": 3,
                     "sha256": hashlib.sha256(listing.encode()).hexdigest()}
    (folder / "b.jpg").write_bytes(b"changed")
    assert input_folder("tiles", folder, [folder / "b.jpg", folder / "a" / "x.jpg"])["sha256"] != entry["sha256"]


def test_mat_round_trip_keeps_the_record_and_legacy_readers_ignore_it(tmp_path):
    from scipy.io import loadmat

    record = _record(tmp_path)
    label_image = np.arange(12, dtype=np.uint8).reshape(3, 4) % 2
    write_label_mat(tmp_path / "a_mres.mat", LabelFile(label_image, ["sand", "water"], provenance=record))
    back = read_label_mat(tmp_path / "a_mres.mat")
    assert back.provenance == record and back.extra == {} and back.labels == ["sand", "water"]
    assert np.array_equal(back.label_image, label_image)
    assert read_mat_record(tmp_path / "a_mres.mat") == record == read_record(tmp_path / "a_mres.mat")
    raw = loadmat(tmp_path / "a_mres.mat")  # what a legacy reader sees: its variables unchanged, one string more
    assert sorted(k for k in raw if not k.startswith("__")) == ["class", "labels", PROVENANCE_VARIABLE]
    assert raw["class"].dtype == np.uint8 and json.loads(str(raw[PROVENANCE_VARIABLE][0])) == record
    write_label_mat(tmp_path / "b_mres.mat", LabelFile(label_image, ["sand", "water"]))
    assert read_label_mat(tmp_path / "b_mres.mat").provenance is None


def test_a_legacy_file_has_no_record():
    if not LEGACY_MAT.exists():
        pytest.skip("shared legacy data not available")
    assert read_label_mat(LEGACY_MAT).provenance is None
    with pytest.raises(InputError, match="holds no readable provenance record"):
        read_record(LEGACY_MAT)


def test_a_malformed_record_is_warned_about_and_the_file_still_read(tmp_path, caplog):
    from scipy.io import savemat

    savemat(tmp_path / "bad_mres.mat", {"class": np.zeros((2, 3), np.uint8), "labels": ["sand"],
                                        PROVENANCE_VARIABLE: '{"dl_tools": {"version": '})  # cut short
    with caplog.at_level(logging.WARNING, logger="dl_tools"):
        back = read_label_mat(tmp_path / "bad_mres.mat")
    assert back.provenance is None and back.labels == ["sand"] and back.shape == (2, 3)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "bad_mres.mat (variable 'provenance'): its provenance record cannot be read" in caplog.text
    with caplog.at_level(logging.WARNING, logger="dl_tools"), pytest.raises(InputError, match="no readable"):
        read_record(tmp_path / "bad_mres.mat")


def _geotiff(tmp_path, name, record):
    from affine import Affine

    geo = GeoInfo(crs="EPSG:32618", transform=Affine(0.5, 0, 500000, 0, -0.5, 4000000), width=5, height=4)
    label_image = np.arange(20, dtype=np.uint8).reshape(4, 5) % 3
    return write_label_geotiff(tmp_path / name, label_image, geo, provenance=record), label_image


def test_geotiff_tags_round_trip_and_the_pixels_are_unchanged(tmp_path):
    import rasterio

    record = _record(tmp_path)
    path, label_image = _geotiff(tmp_path, "a_mres.tif", record)
    assert read_geotiff_record(path) == record == read_record(path)
    with rasterio.open(path) as src:
        assert np.array_equal(src.read(1), label_image) and src.nodata == 255
        assert src.tags()["TIFFTAG_SOFTWARE"] == f"DL tools {dl_tools.__version__}"
    plain, _ = _geotiff(tmp_path, "plain.tif", None)
    assert read_geotiff_record(plain) is None


def test_a_malformed_geotiff_tag_is_warned_about(tmp_path, caplog):
    import rasterio

    path, _ = _geotiff(tmp_path, "a.tif", None)
    with rasterio.open(path, "r+") as dst:
        dst.update_tags(**{PROVENANCE_TAG: "[1, 2]"})  # JSON, but not a record
    with caplog.at_level(logging.WARNING, logger="dl_tools"):
        assert read_geotiff_record(path) is None
    assert f"(tag {PROVENANCE_TAG}): its provenance record cannot be read" in caplog.text


def test_a_png_label_image_holds_the_record_and_the_pixels_of_write_image(tmp_path, caplog):
    from PIL import Image, PngImagePlugin

    from dl_tools.io.images import read_png_record, read_raw, write_image, write_png_with_record

    record = _record(tmp_path)
    label_image = (np.arange(35, dtype=np.uint8).reshape(5, 7) % 3) * 100
    write_png_with_record(tmp_path / "a_gtFine_labelIds.png", label_image, record)
    write_image(tmp_path / "plain.png", label_image)
    assert np.array_equal(read_raw(tmp_path / "a_gtFine_labelIds.png"), read_raw(tmp_path / "plain.png"))
    assert read_png_record(tmp_path / "a_gtFine_labelIds.png") == record == read_record(
        tmp_path / "a_gtFine_labelIds.png")
    assert read_png_record(tmp_path / "plain.png") is None
    info = PngImagePlugin.PngInfo()
    info.add_text(PROVENANCE_TAG, "not json")
    Image.fromarray(label_image).save(tmp_path / "bad.png", pnginfo=info)
    with caplog.at_level(logging.WARNING, logger="dl_tools"):
        assert read_png_record(tmp_path / "bad.png") is None
    assert f"bad.png (text {PROVENANCE_TAG}): its provenance record cannot be read" in caplog.text
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="broken.png is not a readable PNG image"):
        read_png_record(tmp_path / "broken.png")


@pytest.mark.parametrize("cog", [False, True])
def test_the_windowed_writer_stores_the_record_of_its_recording_block(tmp_path, cog):
    from affine import Affine

    from dl_tools.io.windowed_geotiff import OutputRaster, WindowedGeoTIFFs

    record = _record(tmp_path)
    geo = GeoInfo(crs="EPSG:32618", transform=Affine(0.5, 0, 500000, 0, -0.5, 4000000), width=600, height=520)
    outputs = [OutputRaster(tmp_path / "m_label.tif", 1, 255), OutputRaster(tmp_path / "m_probabilities.tif", 2)]
    with recording(record):
        writer = WindowedGeoTIFFs(outputs, geo, {"window": 512})
    writer.write(0, 0, 0, [np.ones((520, 600), np.uint8), np.zeros((520, 600, 2), np.uint8)])
    for path in writer.finish(cog=cog):
        assert read_geotiff_record(path) == record


def _card(record, colors=((0, 0, 255), (255, 255, 0))):
    return model_card(model="model.pb", kind="Tile classifier", labels=["water", "sand"], colors=colors,
                      training_data={"unit": "tiles", "images": ["IMG_1", "IMG_2"],
                                     "counts": {"training": {"water": 30, "sand": 20}}},
                      backbone={"name": "tiny", "weights": "random"}, settings=record["settings"],
                      scores={"validation": {"accuracy": 0.9}}, record=record)


def test_sidecars_beside_a_model_and_in_a_run_folder_give_the_record(tmp_path):
    record = _record(tmp_path)
    (tmp_path / "model.pb").write_bytes(b"graph")
    write_record_file(model_sidecars(tmp_path / "model.pb")["provenance"], record)
    write_model_card(tmp_path / "model.pb", _card(record))
    for path in ("model.pb", "model.provenance.json", "model.card.json", "model.card.md"):
        assert read_record(tmp_path / path) == record, path
    run = tmp_path / "run"
    run.mkdir()
    (run / "settings.json").write_text("{}")
    (run / "best.weights.h5").write_bytes(b"weights")
    write_record_file(run_sidecars(run)["provenance"], record)
    write_model_card(run, _card(record))
    for path in (run, run / "best.weights.h5", run / "card.json", run / "card.md", run / "provenance.json"):
        assert read_record(path) == record, path
    (tmp_path / "other.pb").write_bytes(b"graph")
    with pytest.raises(InputError, match=r"other.pb has no provenance record \(other.provenance.json not found\)"):
        read_record(tmp_path / "other.pb")
    with pytest.raises(InputError, match="does not exist"):
        read_record(tmp_path / "missing.mat")


def test_evaluations_add_test_scores_with_intervals_to_the_card(tmp_path):
    record = _record(tmp_path)
    (tmp_path / "model.pb").write_bytes(b"graph")
    json_path, text_path = write_model_card(tmp_path / "model.pb", _card(record, colors=None))
    assert "None yet" in text_path.read_text() and "not known to this step" in text_path.read_text()
    scores = {"accuracy": 0.75, "macro_f1": 0.7, "kappa": None}
    assert add_test_scores(tmp_path / "model.pb", "test_class_tiles", "test/tile_96", scores, "40 tiles",
                           intervals={"accuracy": [0.6, 0.85]}) == json_path
    add_test_scores(tmp_path / "model.pb", "test_pixels", "test_hybrid", {"accuracy": 0.8}, "21 photographs")
    card = read_model_card(tmp_path / "model.pb")
    first, second = card["test_scores"]
    assert first["scores"] == scores and first["intervals"] == {"accuracy": [0.6, 0.85]} and first["n"] == "40 tiles"
    assert first["step"] == "test_class_tiles" and first["made_by"]["step"] == "test_class_tiles"
    assert second["intervals"] is None and second["data"] == "test_hybrid"
    text = text_path.read_text()
    assert text == card_markdown(card)
    assert "test_class_tiles on test/tile_96 (40 tiles): accuracy 0.750 (0.600 to 0.850), macro_f1 0.700, kappa n/a" \
        in text and "test_pixels on test_hybrid (21 photographs): accuracy 0.800" in text
    assert add_test_scores(tmp_path / "nocard.pb", "test_class_tiles", "t", scores, "1 tile") is None


def test_a_damaged_card_is_an_input_error(tmp_path):
    (tmp_path / "model.card.json").write_text("{not json")
    with pytest.raises(InputError, match="model card .*model.card.json cannot be read"):
        add_test_scores(tmp_path / "model.pb", "test_class_tiles", "t", {}, "1 tile")


def test_the_provenance_command_prints_each_kind_of_output(tmp_path, capsys):
    record = _record(tmp_path)
    write_label_mat(tmp_path / "a_ares_96.mat", LabelFile(np.zeros((2, 2), np.uint8), ["sand"], provenance=record))
    _geotiff(tmp_path, "a_ares_96.tif", record)
    (tmp_path / "model.pb").write_bytes(b"graph")
    write_record_file(model_sidecars(tmp_path / "model.pb")["provenance"], record)
    write_model_card(tmp_path / "model.pb", _card(record))
    for name in ("a_ares_96.mat", "a_ares_96.tif", "model.pb", "model.card.md"):
        assert provenance_main([str(tmp_path / name)]) == 0
        out = capsys.readouterr().out
        assert f"made by:   DL tools {dl_tools.__version__}" in out and "step:      label" in out
        assert "command:   label_1image_crf.py -s 0.5 --image 'my image.jpg'" in out
        assert f"  image: {tmp_path / 'image.jpg'} (3 bytes) sha256 {ABC_SHA256}" in out and "  tile: 96" in out
    assert provenance_main([str(tmp_path / "model.pb"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == record
    assert provenance_main([str(tmp_path / "image.jpg")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path / 'image.jpg'} has no provenance record (image.provenance.json not found): it " \
                  "was not written by a DL tools step that records one\n"


def test_python_m_and_the_console_command_print_the_record(tmp_path):
    record = _record(tmp_path)
    write_label_mat(tmp_path / "a_mres.mat", LabelFile(np.zeros((2, 2), np.uint8), ["sand"], provenance=record))
    for command in ([sys.executable, "-m", "dl_tools.provenance"], [sys.executable, "-m", "dl_tools", "provenance"]):
        proc = subprocess.run([*command, str(tmp_path / "a_mres.mat"), "--json"], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0 and json.loads(proc.stdout) == record, proc.stderr


def _label_inputs(tmp_path):
    from dl_tools.io.images import write_image

    rng = np.random.default_rng(0)
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, 30:] = (200, 180, 90)
    image[:, :30] = (30, 60, 200)
    image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
    strokes = np.zeros((40, 60), np.uint8)
    strokes[10:30, 5:10], strokes[10:30, 45:50] = 1, 2
    write_image(tmp_path / "img.png", image)
    write_image(tmp_path / "strokes.png", strokes)
    (tmp_path / "labels.txt").write_text("water\nsand\n")
    (tmp_path / "colors.txt").write_text("blue\nyellow\n")
    return image


def test_step2_records_its_inputs_settings_and_command(tmp_path):
    from dl_tools.cli.label_1image_crf import main

    _label_inputs(tmp_path)
    args = ["-s", "1", "--image", str(tmp_path / "img.png"), "--labels", str(tmp_path / "labels.txt"), "--colors",
            str(tmp_path / "colors.txt"), "--scribbles", str(tmp_path / "strokes.png"), "--outdir",
            str(tmp_path / "out"), "-q"]
    assert main(args) == 0
    record = read_label_mat(tmp_path / "out" / "img_mres.mat").provenance
    assert record["step"] == "label" and record["argv"] == ["label_1image_crf.py", *args]
    assert record["settings"]["scale"] == 1.0 and record["settings"]["engine_used"] == "strokes"
    assert "theta_bilateral" in record["settings"]["crf"]
    assert {e["role"]: e["sha256"] for e in record["inputs"]} == {
        role: sha256_file(tmp_path / name) for role, name in
        (("image", "img.png"), ("labels", "labels.txt"), ("colors", "colors.txt"), ("strokes", "strokes.png"))}


def test_step2_on_a_geotiff_stores_the_record_in_its_tags(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    from dl_tools.cli.label_1geotiff_crf import main

    image = _label_inputs(tmp_path)
    with rasterio.open(tmp_path / "scene.tif", "w", driver="GTiff", width=60, height=40, count=3, dtype="uint8",
                       crs="EPSG:32618", transform=from_origin(500000, 4000000, 1, 1)) as dst:
        dst.write(np.moveaxis(image, 2, 0))
    assert main(["-s", "1", "--image", str(tmp_path / "scene.tif"), "--labels", str(tmp_path / "labels.txt"),
                 "--colors", str(tmp_path / "colors.txt"), "--scribbles", str(tmp_path / "strokes.png"), "-q"]) == 0
    tif_record = read_record(tmp_path / "scene_mres.tif")
    assert tif_record == read_record(tmp_path / "scene_mres.mat")
    assert tif_record["inputs"][0] == input_file("image", tmp_path / "scene.tif")


def test_step7_finds_the_one_unchanged_model_that_made_the_estimates(tmp_path, caplog):
    from dl_tools.io.model_card import model_of_estimates

    for name in ("a.pb", "b.pb"):
        (tmp_path / name).write_bytes(name.encode())
        write_model_card(tmp_path / name, _card(_record(tmp_path)))

    def estimate(name, model):
        record = build_record("hybrid", None, [input_file("model", tmp_path / model)])
        write_label_mat(tmp_path / name, LabelFile(np.zeros((2, 2), np.uint8), ["sand"], provenance=record))
        return tmp_path / name

    first, second, other = estimate("1_ares_96.mat", "a.pb"), estimate("2_ares_96.mat", "a.pb"), \
        estimate("3_ares_96.mat", "b.pb")
    write_label_mat(tmp_path / "old_ares_96.mat", LabelFile(np.zeros((2, 2), np.uint8), ["sand"]))
    assert model_of_estimates([first, second]) == tmp_path / "a.pb"
    with caplog.at_level(logging.INFO, logger="dl_tools"):
        assert model_of_estimates([first, other]) is None
        assert model_of_estimates([first, tmp_path / "old_ares_96.mat"]) is None
        (tmp_path / "a.pb").write_bytes(b"retrained since")
        assert model_of_estimates([first, second]) is None
    assert "2 different models" in caplog.text and "old_ares_96.mat does not record the model" in caplog.text
    assert "is gone or changed" in caplog.text


def test_a_card_that_cannot_be_written_leaves_the_evaluation_alone(tmp_path, caplog, monkeypatch):
    import dl_tools.io.model_card as cards

    (tmp_path / "model.pb").write_bytes(b"graph")
    write_model_card(tmp_path / "model.pb", _card(_record(tmp_path)))
    before = (tmp_path / "model.card.json").read_bytes()

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "model.card.json"))

    monkeypatch.setattr(cards, "write_json_atomic", read_only)
    with caplog.at_level(logging.WARNING, logger="dl_tools"):
        assert add_test_scores(tmp_path / "model.pb", "test_class_tiles", "t", {}, "1 tile") is None
    assert "could not be added to the model card" in caplog.text and "Permission denied" in caplog.text
    assert (tmp_path / "model.card.json").read_bytes() == before


def test_a_damaged_record_file_beside_a_model_is_an_input_error(tmp_path, caplog):
    (tmp_path / "model.pb").write_bytes(b"graph")
    (tmp_path / "model.provenance.json").write_text('{"dl_tools": ')
    with pytest.raises(InputError, match="model.provenance.json is not a readable JSON file"):
        read_record(tmp_path / "model.pb")
    (tmp_path / "model.card.json").write_text('{"made_by": "edited by hand", "test_scores": []}')
    with caplog.at_level(logging.WARNING, logger="dl_tools"), pytest.raises(InputError, match="no readable"):
        read_record(tmp_path / "model.card.json")
    assert "model.card.json: its provenance record cannot be read" in caplog.text


def test_the_provenance_command_checks_the_inputs_again(tmp_path, capsys, monkeypatch):
    record = _record(tmp_path)
    record["inputs"].append({"role": "tiles", "path": "tiles", "files": 3, "bytes": 9, "sha256": "0" * 64})
    write_label_mat(tmp_path / "a_mres.mat", LabelFile(np.zeros((2, 2), np.uint8), ["sand"], provenance=record))
    image = tmp_path / "image.jpg"
    for content, code, state in ((b"abc", 0, "unchanged"), (b"abd", 1, "changed"), (None, 1, "missing")):
        if content is None:
            image.unlink()
        else:
            image.write_bytes(content)
        assert provenance_main([str(tmp_path / "a_mres.mat"), "--check"]) == code
        out = capsys.readouterr().out
        assert out.endswith(f"inputs now:\n  {image}: {state}\n  tiles: not checked (a folder)\n"), out
    monkeypatch.chdir(tmp_path)  # a relative input path is taken from the record's folder, not the current one
    image.write_bytes(b"abc")
    relative = build_record("label", None, [input_file("image", "image.jpg")])
    monkeypatch.chdir(REPO)
    write_label_mat(tmp_path / "b_mres.mat", LabelFile(np.zeros((2, 2), np.uint8), ["sand"], provenance=relative))
    assert provenance_main([str(tmp_path / "b_mres.mat"), "--check"]) == 0
    assert capsys.readouterr().out.endswith("inputs now:\n  image.jpg: unchanged\n")
