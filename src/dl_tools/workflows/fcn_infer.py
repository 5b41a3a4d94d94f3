"""Method 2, step 8c: label images with a trained fully convolutional network (optionally refined by a dense CRF).

Each image (any size, any supported type) is resized by the run's training scale (``train_scale`` in settings.json:
the network sees the pixel scale it was trained at), its colours standardised when the run's were (over the whole
image, not per tile), covered by overlapping network-size tiles whose probabilities are blended
(``dl_tools.arrays.tiling``; one tile when the image is no larger than the training images), and the probabilities
are resized back to the ORIGINAL size. With a CRF, ``dl_tools.segmentation.refine.refine`` refines them using the
original image (calibrated, and gated: pixels the network is sure of keep its class).

Outputs in the output folder, for sample ``<name>_RGB.<ext>`` (or ``<name>.<ext>``) and tag ``""`` (infer.py) or
``"_crf"`` (infer_crf.py):

    <name><tag>_label.png     class index per pixel (uint8), original size
    <name><tag>_color.png     the classes in the labeldefs colours
    <name><tag>_overlay.png   the image with the colours blended in (50 %)
    <name>_ares<tag>.mat      class, labels (class names), preds (probabilities on the network or CRF grid):
                              what eval_semseg/test_pixels.py pairs with <name>_mres.mat
    <name><tag>_label.tif     for a georeferenced GeoTIFF input: the class map on the input's grid

Pixels without data in a TIFF input (its no-data value, NaN, alpha band or mask: ``io.geotiff.nodata_mask``) get
the value 255 (``io.geotiff.LABEL_NODATA``) in the label images and no colour in the colour and overlay images;
the .mat ``class`` map, which has no such value, keeps the network's class there and its ``nodata`` mask marks
them (test_pixels.py leaves them out).

Every image's header, and the output names, are checked before the network runs, so a bad image header or an
existing output stops the run before anything is written. An image whose pixel data turn out unreadable (a damaged
file with a good header) is skipped with a warning and the others are labelled (``folder_runs.process_images``);
when none can be, nothing is written.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..arrays.color import standardise_channels
from ..arrays.resize import resize_image
from ..errors import InputError
from ..file_contract import (
    BEST_WEIGHTS,
    CRF_TAG,
    LAST_CHECKPOINT,
    RUN_SETTINGS,
    fcn_large_outputs,
    fcn_outputs,
    sample_name,
)
from ..io.atomic import atomic_outputs, check_output_dir, remove_stale_temporaries
from ..io.geotiff import mask_nodata, nodata_mask, read_geoinfo, write_label_geotiff
from ..io.images import image_shape, list_images, read_image, write_image
from ..io.mat import LabelFile, write_label_mat
from ..io.run_folder import bad_run_settings, read_run_settings
from ..plotting import colorize, label_overlay
from ..provenance_record import build_record, input_file, recording
from ..segmentation.crf import CRFParams
from ..segmentation.refine import Refinement
from .fcn_train import params_from_settings  # the run's network settings (FCNTrainParams), not just a name
from .folder_runs import Skipped, check_outputs, photographs, process_images
from .windowed import WindowedParams, WindowedResult, check_resume, is_large, output_rasters

log = logging.getLogger(__name__)

CHECKPOINTS = {"best": BEST_WEIGHTS, "last": LAST_CHECKPOINT}
#: side in px of the blocks of the network grid whose colour sums are taken one at a time (or as one Dask task)
STATS_BLOCK = 1024
#: What to do about an image whose pixel data turn out unreadable (a damaged file with a good header).
DAMAGED_FIX = "replace it with an undamaged copy and run again with --overwrite, or remove it from --samples-dir"


#: The CRF settings infer_crf.py used for every run until runs chose their own (chosen on the 12 demo validation
#: images; benchmarks/bench_fcn.py): the base of the candidates of ``workflows.crf_choice``.
FCN_CRF = CRFParams(theta_bilateral=120.0, theta_color=10.0, compat_bilateral=10.0, theta_gaussian=3.0,
                    compat_gaussian=3.0, n_iter=10, scale=0.5)
#: infer_crf.py's refinement for a run without a choice of its own: the safer kernel of the candidates, and the
#: CRF's class only where it is at least 95 % sure (over folds of the demo photographs, docs/benchmarks.md)
DEFAULT_REFINEMENT = Refinement(dataclasses.replace(FCN_CRF, theta_bilateral=30.0), accept=0.95)


@dataclass(frozen=True)
class FCNInferParams:
    """batch_size: tiles per network call. overlap: fraction of a tile shared with its neighbours, in [0, 0.9].
    checkpoint: "best" (highest validation mean IoU) or "last" (end of training). overwrite: replace outputs.
    crf: how the CRF refines the network's probabilities (``segmentation.refine``), or None for the network alone.
    keep_network: write infer_crf.py's outputs (tag _crf) with the network's labels, for a run whose validation
    images found no CRF setting that helps (``workflows.crf_choice``).
    windowed: how GeoTIFFs larger than ``windowed.max_megapixels`` are labelled window by window."""

    batch_size: int = 4
    overlap: float = 0.25
    checkpoint: str = "best"
    overwrite: bool = False
    crf: Refinement | None = None
    keep_network: bool = False
    windowed: WindowedParams = WindowedParams()

    def __post_init__(self):
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not 0.0 <= self.overlap <= 0.9:
            raise InputError(f"--overlap must be between 0 and 0.9, got {self.overlap}")
        if self.checkpoint not in CHECKPOINTS:
            raise InputError(f"--checkpoint must be one of {', '.join(CHECKPOINTS)}, got {self.checkpoint!r}")

    @property
    def tag(self) -> str:
        """Name tag of the outputs: "" for infer.py, "_crf" for infer_crf.py."""
        return CRF_TAG if self.crf is not None or self.keep_network else ""


@dataclass
class FCNInferResult:
    """outputs: the files written; skipped: the images that could not be read (see module doc)."""

    outputs: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    n_images: int = 0
    megapixels: float = 0.0
    predict_seconds: float = 0.0
    crf_seconds: float = 0.0


@dataclass
class RunModel:
    """A trained network with what inference needs: labels, (N, 3) uint8 colours, tile (H, W), train scale, and
    whether the run standardised its images' colours."""

    model: object
    labels: list[str]
    colors: np.ndarray
    tile_shape: tuple[int, int]
    scale: tuple[float, float]
    standardise: bool = False


def checkpoint_path(run_dir: Path, checkpoint: str = "best") -> Path:
    """The weights file of ``checkpoint`` ("best" or "last") of a training run, after checking the run's settings
    and that the file exists (InputError naming --name otherwise)."""
    read_run_settings(run_dir)
    weights = run_dir / CHECKPOINTS[checkpoint]
    if not weights.is_file():
        raise InputError(f"--name: {run_dir} has no checkpoint {weights.name} (training stopped before the first "
                         "epoch ended?); train it with semseg_fullyconv/train.py")
    return weights


def _read_run(run_dir: str | Path) -> tuple[RunModel, str]:
    """(``run_settings``'s RunModel, the run's backbone) from one read of its settings.json."""
    path = Path(run_dir) / RUN_SETTINGS
    settings = read_run_settings(run_dir)
    try:
        params = params_from_settings(settings)
        run = RunModel(model=None, labels=list(settings["labels"]), colors=np.asarray(settings["colors"], np.uint8),
                       tile_shape=params.image_size, scale=tuple(float(s) for s in settings["train_scale"]),
                       standardise=params.standardise)
    except (KeyError, TypeError, ValueError) as exc:
        raise bad_run_settings(path, f"{type(exc).__name__}: {exc}") from None
    if run.colors.shape != (len(run.labels), 3) or len(run.scale) != 2:
        raise bad_run_settings(path, f"{len(run.labels)} classes but colours of shape {run.colors.shape} and "
                                     f"train_scale {list(run.scale)}")
    return run, params.backbone


def run_settings(run_dir: str | Path) -> RunModel:
    """What a training run's settings.json says for inference, without the network (``RunModel.model`` None):
    for the work a client does before a model is needed (no TensorFlow imported). InputError naming the file when
    a value the run needs is missing or of the wrong kind."""
    return _read_run(run_dir)[0]


def load_run(run_dir: str | Path, checkpoint: str = "best") -> RunModel:
    """Rebuild the network of a training run and load its ``checkpoint`` ("best" or "last") weights; InputError
    naming the weights when they do not fit the network its settings.json describes, or cannot be read."""
    from ..models.fcn import build_fcn

    weights = checkpoint_path(Path(run_dir), checkpoint)
    run, backbone = _read_run(run_dir)
    run.model = build_fcn(len(run.labels), run.tile_shape, backbone, pretrained=False)
    with warnings.catch_warnings(record=True) as caught:  # Keras warns layer by layer before it fails
        warnings.simplefilter("always")
        try:
            run.model.load_weights(weights)
        except (OSError, ValueError) as exc:
            problem = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"--name: the weights {weights} do not load into the network of the run's "
                             f"{RUN_SETTINGS} ({len(run.labels)} classes, {backbone}): {problem}; the file is "
                             "damaged or the settings were changed: restore them or train the run again") from None
    for warning in caught:
        log.warning("loading %s: %s", weights, warning.message)
    return run


def network_grid(shape: tuple[int, int], scale: tuple[float, float]) -> tuple[int, int]:
    """(H, W) of an image times the training scale (rows, cols), rounded, at least 1 x 1."""
    return max(1, int(round(shape[0] * scale[0]))), max(1, int(round(shape[1] * scale[1])))


def to_network_scale(run: RunModel, image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w, 3) uint8 resized to the pixel scale the run was trained at (``network_grid``)."""
    return resize_image(image, network_grid(image.shape[:2], run.scale))


def predict_probs(run: RunModel, image: np.ndarray, overlap: float = 0.25, batch_size: int = 4,
                  color_stats: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (h, w, N) float32 probabilities on the network grid (``network_grid``); the colours
    standardised first when the run was trained so: over the whole image, or with ``color_stats`` (those of the
    whole raster an image is a window of, ``windowed.raster_channel_stats``)."""
    from ..arrays.tiling import predict_tiled

    small = to_network_scale(run, image)
    if run.standardise:
        small = standardise_channels(small, color_stats)
    return predict_tiled(small, run.model.predict_on_batch, run.tile_shape, overlap, batch_size)


def output_paths(output_dir: Path, sample: Path, tag: str, georeferenced: bool) -> dict[str, Path]:
    """The files written for ``sample`` (see module doc), by kind."""
    return fcn_outputs(output_dir, sample_name(sample), tag, georeferenced)


def large_output_paths(output_dir: Path, sample: Path, tag: str, probabilities: bool) -> dict[str, Path]:
    """The files written for a raster labelled by windows (module doc), by kind."""
    return fcn_large_outputs(output_dir, sample_name(sample), tag, probabilities)


def plan_outputs(samples: list[Path], output_dir: Path, params: FCNInferParams) -> list[tuple]:
    """(sample, GeoInfo or None, output paths) of every image, after checking that each image's header is readable
    and every output (``folder_runs.check_outputs``: no two images writing one file, no folder in the way, none
    existing unless ``params.overwrite``)."""
    check_output_dir(output_dir, "--output-dir")
    plan = []
    for sample in samples:
        image_shape(sample, fix="remove it from --samples-dir or replace it")
        if is_large(sample, params.windowed):
            paths = large_output_paths(output_dir, sample, params.tag, params.windowed.probabilities)
            check_resume(output_rasters(paths), params.windowed, "--output-dir")
            plan.append((sample, LARGE, paths))
            continue
        geo = read_geoinfo(sample)
        plan.append((sample, geo, output_paths(output_dir, sample, params.tag, geo is not None)))
    check_outputs([(sample, paths) for sample, _, paths in plan], params.overwrite,
                  "keep one of them in --samples-dir or rename it")
    return plan


def _write_outputs(paths: dict[str, Path], sample: Path, image: np.ndarray, label_image: np.ndarray,
                   probs: np.ndarray, run: RunModel, geo, record: dict | None = None) -> None:
    """Write the outputs of ``sample`` (module doc) to ``paths`` together: all or none, the .mat last
    (``io.atomic.atomic_outputs``, which makes the output folder: none is made before an image is done).
    image: (H, W, 3) uint8; label_image: (H, W) uint8 classes; probs: (h, w, N) float32; geo: GeoInfo or None;
    record: the provenance record the .mat and .tif hold."""
    nodata = nodata_mask(sample)
    shown = mask_nodata(label_image, nodata)
    with atomic_outputs(paths) as tmp:
        write_image(tmp["label"], shown)
        write_image(tmp["color"], colorize(shown, run.colors))
        write_image(tmp["overlay"], label_overlay(image, shown, run.colors))
        write_label_mat(tmp["mat"], LabelFile(label_image, run.labels, probs=probs, nodata=nodata, provenance=record))
        if geo is not None:
            write_label_geotiff(tmp["tif"], shown, geo, labels=run.labels, provenance=record)


def window_probs(predictor: RasterPredictor, image: np.ndarray, context) -> np.ndarray:
    """(h, w, N) probabilities of a window (``workflows.windowed``): the part inside the raster from the
    predictor, mirrored about the raster's edge where the window sticks out (as its pixels are)."""
    height, width = image.shape[:2]
    top, left, bottom, right = context.inside(height, width)
    return context.mirrored(predictor.probs(context.read, top, left, bottom - top, right - left), height, width)


#: the GeoInfo slot of a raster labelled by windows, in the plan of ``plan_outputs``
LARGE = "large"


#: the most memory (MB) a RasterPredictor keeps of tile probabilities for the windows that follow
TILE_CACHE_MB = 256


class RasterPredictor:
    """The network's probabilities over any region of a large raster, equal to those of a whole-image run.

    The whole-image run (``predict_probs``) resizes the raster to the network grid and blends the tiles of one plan
    over that grid (``arrays.tiling.predict_tiled``: tiles spread evenly, "inside"). Here the same plan is laid over
    the raster's network grid, and a region gets the tiles of that plan that reach into it, cut from the pixels
    under those tiles and resized with the weights of the whole raster's resizing (``arrays.resize.area_weights``,
    ``linear_weights``), so its probabilities are the whole-image run's up to float rounding. The colours are
    standardised with the statistics of the whole raster on the network grid (``color_stats``, from
    ``network_color_stats``; ignored when the run does not standardise). shape: (H, W) of the raster.

    The tiles go through the network in fixed batches (``batches``, ``batch_starts``: up to ``batch_size``
    neighbours of one row of the plan, ``arrays.tiling.row_chunks``), each computed from the same pixels whichever
    region asks for it, so a tile's probabilities do not depend on the region, the order of the windows or the
    worker. Batches are kept for the regions that follow
    (neighbouring windows share the tiles across their border) up to ``cache_mb`` MB, the least recently used
    dropped first; ``predicted`` counts the tiles run through the network.
    """

    def __init__(self, run: RunModel, shape: tuple[int, int], params: FCNInferParams,
                 color_stats: tuple[np.ndarray, np.ndarray] | None = None, cache_mb: float = TILE_CACHE_MB):
        from collections import OrderedDict

        from ..arrays.tiling import plan_windows, row_chunks

        self.run, self.shape, self.params = run, shape, params
        self.grid = network_grid(shape, run.scale)
        self.plan = plan_windows(self.grid, run.tile_shape, overlap=params.overlap, edge="inside")
        self.color_stats = color_stats if run.standardise else None
        self.batches, self.batch_starts = row_chunks(self.plan.tops, params.batch_size)
        self.cache_mb, self.predicted = cache_mb, 0
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def network_image(self, read, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
        """(h, w, 3) uint8 rows ``rows`` and columns ``cols`` (start, stop) of the raster resized to the network
        grid, computed from the raster's pixels under them only, exactly as the resizing of the whole raster."""
        from ..arrays.resize import area_resized_to_uint8, area_weights, resize_part

        down_rows = area_weights(self.shape[0], self.grid[0], *rows)
        down_cols = area_weights(self.shape[1], self.grid[1], *cols)
        pixels = read(down_rows[1], down_cols[1], down_rows[0].shape[1], down_cols[0].shape[1])
        return area_resized_to_uint8(resize_part(pixels, down_rows, down_cols), self.shape, self.grid)

    def stat_blocks(self, block: int = STATS_BLOCK) -> list[tuple[int, int, int, int]]:
        """(row, col, height, width) of the blocks of the network grid that ``network_color_stats`` sums over."""
        rows, cols = self.grid
        return [(r, c, min(block, rows - r), min(block, cols - c)) for r in range(0, rows, block)
                for c in range(0, cols, block)]

    def block_sums(self, read, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """((3,) sum, (3,) sum of squares) of a block of the network grid (``arrays.color.channel_stats``)."""
        from ..arrays.color import channel_stats

        return channel_stats(self.network_image(read, (row, row + height), (col, col + width)))

    def stats_from_blocks(self, sums) -> tuple[np.ndarray, np.ndarray]:
        """((3,) mean, (3,) deviation) from the ``block_sums`` of every block (sums of whole numbers in float64:
        exact, so in any order)."""
        from ..arrays.color import stats_from_sums

        total, squares = np.zeros(3), np.zeros(3)
        for block_total, block_squares in sums:
            total, squares = total + block_total, squares + block_squares
        return stats_from_sums(total, squares, self.grid[0] * self.grid[1])

    def network_color_stats(self, reader, client=None) -> tuple[np.ndarray, np.ndarray]:
        """((3,) mean, (3,) deviation) of the raster's channels on the network grid, block by block, read with
        ``reader`` (a ``windowed.RasterReader``): those the whole-image run standardises with. With a Dask
        ``client``, the blocks are tasks."""
        from ..terminal import progress

        blocks = self.stat_blocks()
        if client is None:
            return self.stats_from_blocks(self.block_sums(reader.rgb, *block) for block in
                                          progress(blocks, desc="colour statistics", unit="block"))
        from .distributed import map_tasks

        task = _BlockSums(dataclasses.replace(self.run, model=None), self.shape, self.params, reader)
        return self.stats_from_blocks(result() for _, result in map_tasks(client, task, blocks,
                                                                          desc="colour statistics", unit="block"))

    def probs(self, read, top: int, left: int, height: int, width: int) -> np.ndarray:
        """(height, width, N) float32 probabilities of the raster region with top-left pixel (``top``, ``left``),
        which must lie inside the raster."""
        from ..arrays.resize import linear_weights, resize_part
        from ..arrays.tiling import blend

        (n_rows, n_cols), (grid_rows, grid_cols) = self.shape, self.grid
        back_rows = linear_weights(grid_rows, n_rows, top, top + height)  # network grid -> raster, as the whole
        back_cols = linear_weights(grid_cols, n_cols, left, left + width)
        wanted = (back_rows[1], back_rows[1] + back_rows[0].shape[1],
                  back_cols[1], back_cols[1] + back_cols[0].shape[1])
        plan = self.plan
        reach = np.flatnonzero((plan.tops < wanted[1]) & (plan.tops + plan.window_shape[0] > wanted[0])
                               & (plan.lefts < wanted[3]) & (plan.lefts + plan.window_shape[1] > wanted[2]))
        tile_probs = self.tile_probs(read, reach)
        g0, h0, g1, h1 = self.grid_bounds(reach)
        local = plan[reach].in_region(g0, h0, (g1 - g0, h1 - h0))
        region = blend(local, (tile_probs[index] for index in reach))
        return resize_part(region[wanted[0] - g0:wanted[1] - g0, wanted[2] - h0:wanted[3] - h0], back_rows,
                           back_cols)

    def tile_probs(self, read, tiles: np.ndarray) -> dict[int, np.ndarray]:
        """{tile index: (h, w, N) float32 probabilities} of the plan's ``tiles``, from the kept batches or run
        through the network in their batches (``batches``)."""
        from ..arrays.tiling import cut_windows

        needed = np.unique(self.batches[tiles]).tolist()
        batch_probs = {batch: self._cache[batch] for batch in needed if batch in self._cache}
        for batch in batch_probs:
            self._cache.move_to_end(batch)
        missing = [batch for batch in needed if batch not in batch_probs]
        if missing:
            g0, h0, g1, h1 = self.grid_bounds(np.flatnonzero(np.isin(self.batches, missing)))
            small = self.network_image(read, (g0, g1), (h0, h1))
            if self.run.standardise:
                small = standardise_channels(small, self.color_stats)
            for batch in missing:
                indices = self.batch_tiles(batch)
                # tiles stick out of the grid only when it is smaller than a tile: mirrored, as the whole image
                cut = cut_windows(small, self.plan[indices].in_region(g0, h0, small.shape[:2]), mirror="symmetric")
                batch_probs[batch] = np.asarray(self.run.model.predict_on_batch(cut.astype(np.float32)), np.float32)
                self._keep(batch, batch_probs[batch])
                self.predicted += len(indices)
        return {index: probs for batch, stack in batch_probs.items()
                for index, probs in zip(self.batch_tiles(batch).tolist(), stack)}

    def batch_tiles(self, batch: int) -> np.ndarray:
        """(n,) int64 indices in the plan of the tiles of ``batch``."""
        return np.arange(self.batch_starts[batch], self.batch_starts[batch + 1])

    def grid_bounds(self, tiles: np.ndarray) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of the network grid under the plan's ``tiles``, cut to the grid."""
        top, left, bottom, right = self.plan[tiles].bounds()
        return max(0, top), max(0, left), min(self.grid[0], bottom), min(self.grid[1], right)

    def _keep(self, batch: int, probs: np.ndarray) -> None:
        """Keep a batch's (n, h, w, N) probabilities, dropping the least recently used beyond ``cache_mb``."""
        self._cache[batch] = probs
        while self._cache and sum(kept.nbytes for kept in self._cache.values()) > self.cache_mb * 1e6:
            self._cache.popitem(last=False)


class _BlockSums:
    """A Dask task of ``RasterPredictor.network_color_stats``: the colour sums of one block of the network grid."""

    def __init__(self, run: RunModel, shape: tuple[int, int], params: FCNInferParams, reader):
        self.predictor = RasterPredictor(run, shape, params)
        self.reader = reader

    @property
    def inputs(self) -> tuple[Path, ...]:
        return (self.reader.source,)

    def __call__(self, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        return self.predictor.block_sums(self.reader.rgb, row, col, height, width)


class _WindowLabeller:
    """The network (and the CRF of infer_crf.py) on one window of a large raster: the ``segment`` of
    ``windowed.segment_raster``, picklable for Dask (the network loaded once a process through ``labeller.run()``,
    ``distributed.cached_model``). shape: (H, W) of the raster; color_stats: its colour statistics on the network
    grid (None when the run does not standardise)."""

    def __init__(self, labeller: _Labeller, shape: tuple[int, int], color_stats):
        self.labeller, self.shape, self.color_stats = labeller, tuple(shape), color_stats
        self._predictor = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_predictor": None}

    def predictor(self) -> RasterPredictor:
        run = self.labeller.run()
        if self._predictor is None or self._predictor.run is not run:
            self._predictor = RasterPredictor(run, self.shape, self.labeller.params, self.color_stats)
        return self._predictor

    def __call__(self, image: np.ndarray, valid: np.ndarray, context) -> tuple[np.ndarray, np.ndarray | None]:
        from ..segmentation.refine import refine

        params = self.labeller.params
        full = window_probs(self.predictor(), image, context)
        if params.crf is not None:
            label_image, marginals = refine(image, full, params.crf)
            return label_image, resize_image(marginals, image.shape[:2]) if params.windowed.probabilities else None
        return np.argmax(full, axis=2).astype(np.uint8), full


def label_large(labeller: _Labeller, model_id: str, sample: Path, paths: dict[str, Path],
                client=None) -> WindowedResult:
    """Label a raster larger than ``params.windowed.max_megapixels`` window by window (``workflows.windowed``) into
    the GeoTIFFs of ``paths`` and a preview figure; ``model_id`` names the weights, for --resume. With a Dask
    ``client``, the colour statistics' blocks and then the windows are tasks, and this process writes the outputs
    (it never loads the network)."""
    from .windowed import CONTEXT_HALO, segment_large

    params = labeller.params
    run = run_settings(labeller.run_dir)

    def prepare(reader, shape, client) -> _WindowLabeller:
        stats = None
        if run.standardise:
            stats = RasterPredictor(run, shape, params).network_color_stats(reader, client)
        return _WindowLabeller(labeller, shape, stats)

    settings = {"model": model_id, "checkpoint": params.checkpoint, "overlap": params.overlap,
                "batch_size": params.batch_size, "crf": params.crf.record() if params.crf else None}
    # the network's probabilities of any region are exact (``RasterPredictor``): a halo only serves the CRF
    windowed = params.windowed.with_halo(CONTEXT_HALO if params.crf is not None else 0)
    return segment_large(sample, paths, run.labels, run.colors, None, windowed, settings, client=client,
                         prepare=prepare)


@dataclass(eq=False)
class _Labeller:
    """The work of ``infer_fcn`` on one image, the same in this process and as a Dask task (picklable; the network
    loaded once a process, ``distributed.cached_model``): label it and write its outputs; returns (outputs,
    megapixels, network seconds, CRF seconds). model: the provenance entry of the weights."""

    run_dir: Path
    params: FCNInferParams
    model: dict

    def run(self) -> RunModel:
        from .distributed import cached_model, file_key

        weights = self.run_dir / CHECKPOINTS[self.params.checkpoint]
        return cached_model(file_key(weights, self.params.checkpoint),
                            lambda: load_run(self.run_dir, self.params.checkpoint))

    def record(self, sample: Path) -> dict:
        return build_record("fcn_infer" + self.params.tag, self.params, [input_file("image", sample), self.model])

    def __call__(self, sample: Path, geo, paths: dict[str, Path],
                 client=None) -> tuple[list[Path], float, float, float]:
        from ..segmentation.refine import refine

        params = self.params
        if geo is LARGE:  # called in the client's process: its windows are the tasks (``client``)
            weights = (self.run_dir / CHECKPOINTS[params.checkpoint]).stat()
            model_id = f"{self.run_dir.resolve()} {params.checkpoint} {weights.st_size} {int(weights.st_mtime)}"
            with recording(self.record(sample)):  # the windowed GeoTIFF writer stores it
                windowed = label_large(self, model_id, sample, paths, client)
            return windowed.outputs, windowed.megapixels, windowed.seconds, 0.0
        run = self.run()
        image = read_image(sample)  # its errors name the file
        started = time.perf_counter()
        probs = predict_probs(run, image, params.overlap, params.batch_size)
        predict_seconds, crf_seconds = time.perf_counter() - started, 0.0
        if params.crf is None:
            full = resize_image(probs, image.shape[:2])
            label_image = np.argmax(full, axis=2).astype(np.uint8)
        else:
            started = time.perf_counter()
            label_image, probs = refine(image, probs, params.crf)
            crf_seconds = time.perf_counter() - started
        _write_outputs(paths, sample, image, label_image, probs, run, geo, self.record(sample))
        return list(paths.values()), image.shape[0] * image.shape[1] / 1e6, predict_seconds, crf_seconds


def infer_fcn(samples_dir: str | Path, output_dir: str | Path, run_dir: str | Path,
              params: FCNInferParams, client=None) -> FCNInferResult:
    """Label every image directly in ``samples_dir`` (except DL tools' own outputs, ``file_contract.OUTPUT_PATTERNS``:
    the output folder may be the samples folder) and write the outputs of the module doc to ``output_dir``;
    images that cannot be read are skipped (``FCNInferResult.skipped``), InputError when none can be. Temporary
    files that an interrupted run left in ``output_dir`` are removed first. With a Dask ``client``
    (``workflows.distributed``) each image is a task, labelled and written on a worker that loads the network once;
    the outputs are those of the serial run."""
    run_started = time.time()
    samples = photographs(list_images(samples_dir, flag="--samples-dir"), samples_dir, "--samples-dir")
    output_dir = Path(output_dir)
    plan = plan_outputs(samples, output_dir, params)
    remove_stale_temporaries(output_dir, run_started)
    task = _Labeller(Path(run_dir).absolute(), params,  # absolute: for workers in other folders
                     input_file("model", checkpoint_path(Path(run_dir), params.checkpoint)))
    if client is None:
        task.run()  # the network loaded before any image, as the workers' first task loads it
    done = process_images(plan, task, skip=True, fix=DAMAGED_FIX, flag="--samples-dir", done="labelled",
                          client=client, on_client=lambda item: item[1] is LARGE)
    result = FCNInferResult(outputs=[path for outputs, *_ in done.outputs for path in outputs], skipped=done.skipped,
                            n_images=len(done.outputs))
    for _, megapixels, predict_seconds, crf_seconds in done.outputs:
        result.megapixels += megapixels
        result.predict_seconds += predict_seconds
        result.crf_seconds += crf_seconds
    log.debug("labelled %d images (%.1f megapixels) into %s", result.n_images, result.megapixels, output_dir)
    return result
