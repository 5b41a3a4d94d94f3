"""A trained model as the labeller's prior: load it once, then its per-class probabilities for any image, with the
classes in the labelling's order (``labelling.prior`` combines them with the strokes).

- ``HybridPrior``: a step-4 model (``retrain.py``'s frozen ``.pb`` and its labels file) through the hybrid method
  (``segmentation.hybrid.hybrid_probs``: every tile's class probabilities painted over its core);
- ``RunPrior``: a step-8 run folder (``semseg_fullyconv/train.py --name``): the network's softmax probabilities
  (``workflows.fcn_infer.predict_probs``).

``PriorFiles`` checks the flags and ``PriorFiles.load`` builds one of them. Both have ``labels`` (the labelling's
class names), ``description`` (for reports), ``weighting`` (the ``labelling.prior.PriorParams`` measured for that
kind of model: pass it to ``label_with_prior``), ``probabilities(image, scale) -> (h, w, N) float32``,
``features(image, scale) -> (h, w, D) float32`` (per-pixel features the labeller refits to a person's corrections,
``labelling.refit``: the step-8 network's own, or the ImageNet MobileNetV2's for a step-4 model, whose tile
classifier has none at pixel level; ``models.dense_features``) and ``evidence(image, scale)``, both together as a
``labelling.prior.ModelEvidence``. ``(h, w)`` is the image's (H, W) times ``scale``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..labelling.prior import ModelEvidence, PriorParams, class_order
from ..segmentation.crf import scaled_shape
from ..segmentation.hybrid import HybridParams, hybrid_probs

log = logging.getLogger(__name__)

#: The hybrid method's settings for a prior: every tile (DECIM 1) and every tile used (PROB_THRES 0: the tile's
#: probabilities carry its confidence); the tile size is the model's input and SCALE the labelling's -s.
PRIOR_HYBRID = HybridParams(prob_thres=0.0, decim=1)


def _rename_flag(exc: InputError, flag: str) -> InputError:
    """``exc`` with its message naming ``flag`` (a lower layer's messages name the step's own flag or none)."""
    message = str(exc)
    for other in ("--name: ", "--name ", "MODEL.pb ", "model file "):
        if message.startswith(other):
            message = message[len(other):]
            break
    return InputError(f"{flag} {message}")


class _Prior:
    """What both kinds of prior share: features of the image on the labelling's grid, and both maps at once."""

    _features = None  # the models.dense_features.DenseFeatures of this model once built; False: none to be had

    def _dense_features(self):  # builds this model's DenseFeatures; InputError when its weights cannot be had
        raise NotImplementedError

    def features(self, image: np.ndarray, scale: float = 1.0) -> np.ndarray | None:
        """(h, w, D) float32 per-pixel features of an (H, W, 3) uint8 image, computed on the image brought to
        (H, W) times ``scale``, reduced to the refit's grid (at most ``RefitParams.max_cells`` cells: finer features
        would be reduced by the refit anyway; ``models.dense_features``); None when the weighting has no refit, and
        None with one warning when the backbone's weights cannot be had (the labels then come from the first stage
        alone)."""
        from ..arrays.resize import resize_image
        from ..labelling.refit import refit_grid

        refit = self.weighting.refit
        if refit is None:
            return None
        if self._features is None:
            try:
                self._features = self._dense_features()
            except InputError as exc:
                log.warning("%s; labelling goes on without refitting the model to your corrections", exc)
                self._features = False
        if self._features is False:
            return None
        work = refit_grid(scaled_shape(image.shape[:2], scale), refit.max_cells)
        return self._features(resize_image(self._network_input(image), work))

    def _network_input(self, image: np.ndarray) -> np.ndarray:
        return image

    def evidence(self, image: np.ndarray, scale: float = 1.0) -> ModelEvidence:
        """The model's ``probabilities`` and ``features`` of an (H, W, 3) uint8 image, both at (H, W) x ``scale``."""
        return ModelEvidence(self.probabilities(image, scale), self.features(image, scale))


class HybridPrior(_Prior):
    """A step-4 frozen classifier (``.pb``) whose tile probabilities, through the hybrid method, are the prior;
    ``refine_with_crf``: refined by the hybrid's CRF first (``segmentation.hybrid.hybrid_probs``; measured worse:
    its marginals are near one-hot, so strokes cannot move them; docs/experiments.md)."""

    def __init__(self, model_path: Path, model_labels: list[str], labels: list[str], labels_path: Path,
                 params: HybridParams = PRIOR_HYBRID, refine_with_crf: bool = False):
        from ..models.frozen import FrozenClassifier, check_model_folder

        check_model_folder(model_path, "--prior")
        if not model_path.is_file():
            raise InputError(f"--prior {model_path} does not exist; give the .pb written by retrain.py "
                             "--output_graph (step 4)")
        self.order = class_order(model_labels, labels, f"--prior-labels {labels_path}", "--labels")
        try:
            self.classifier = FrozenClassifier(model_path)
        except InputError as exc:
            raise _rename_flag(exc, "--prior") from exc
        if self.classifier.n_classes != len(model_labels):
            raise InputError(f"--prior {model_path} predicts {self.classifier.n_classes} classes but --prior-labels "
                             f"{labels_path} names {len(model_labels)}; give the labels file written with this model")
        self.labels = list(labels)
        self.weighting = PriorParams()
        self.refine_with_crf = refine_with_crf
        self.params = replace(params, tile=int(max(self.classifier.input_size)))
        self.description = f"step-4 model {model_path} (hybrid method, {self.params.tile} px tiles)"

    def probabilities(self, image: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """(H, W, N) float32 class probabilities of an (H, W, 3) uint8 image, both sizes times ``scale``; InputError
        when the image is smaller than one tile."""
        params = replace(self.params, scale=scale)
        params.check_size(image.shape[:2], "label it without --prior, or give a model trained on smaller tiles")
        return hybrid_probs(image, self.classifier, params, self.refine_with_crf)[:, :, self.order]

    def _dense_features(self):
        from ..models.dense_features import IMAGENET_TILE, DenseFeatures, imagenet_feature_taps

        return DenseFeatures(imagenet_feature_taps(IMAGENET_TILE), IMAGENET_TILE)


class RunPrior(_Prior):
    """A step-8 training run whose network's softmax probabilities are the prior."""

    def __init__(self, run_dir: Path, labels: list[str], checkpoint: str = "best"):
        from ..file_contract import RUN_SETTINGS
        from .fcn_infer import load_run

        if not (run_dir / RUN_SETTINGS).is_file():
            raise InputError(f"--prior-run {run_dir} is not a step-8 training run (no {RUN_SETTINGS}); give the "
                             "folder that semseg_fullyconv/train.py --name wrote")
        try:
            self.run = load_run(run_dir, checkpoint)
        except InputError as exc:
            raise _rename_flag(exc, "--prior-run") from exc
        self.order = class_order(self.run.labels, labels, f"--prior-run {run_dir}", "--labels")
        self.labels = list(labels)
        self.weighting = PriorParams()
        self.description = f"step-8 run {run_dir} ({checkpoint} weights)"

    def probabilities(self, image: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """(H, W, N) float32 softmax probabilities of an (H, W, 3) uint8 image, both sizes times ``scale``."""
        from ..arrays.resize import resize_image
        from .fcn_infer import predict_probs

        probs = predict_probs(self.run, image)[:, :, self.order]
        return resize_image(probs, scaled_shape(image.shape[:2], scale))

    def _dense_features(self):
        from ..models.dense_features import DenseFeatures, fcn_feature_taps

        return DenseFeatures(fcn_feature_taps(self.run.model), self.run.tile_shape)

    def _network_input(self, image: np.ndarray) -> np.ndarray:
        from ..arrays.color import standardise_channels

        return standardise_channels(image) if self.run.standardise else image


@dataclass(frozen=True)
class PriorFiles:
    """The prior's flags: ``model`` = --prior (a step-4 .pb) with ``model_labels`` = --prior-labels, or ``run`` =
    --prior-run (a step-8 run folder). InputError for both, or for --prior without --prior-labels or the reverse."""

    model: Path | None = None
    model_labels: Path | None = None
    run: Path | None = None

    def __post_init__(self):
        if self.model is not None and self.run is not None:
            raise InputError("--prior and --prior-run both given; give one model: a step-4 .pb (--prior) or a "
                             "step-8 run folder (--prior-run)")
        if self.model_labels is not None and self.model is None:
            raise InputError("--prior-labels given without --prior; give the model's .pb with --prior, or leave "
                             "--prior-labels out")
        if self.model is not None and self.model_labels is None:
            raise InputError("--prior needs --prior-labels, the labels file written with the model (retrain.py "
                             "--output_labels)")

    def load(self, labels: list[str]) -> HybridPrior | RunPrior:
        """The model, loaded once, its classes matched by name to ``labels`` (the labelling's); InputError for a
        missing or unreadable model or classes that do not match."""
        from ..io.text import read_labels

        if self.run is not None:
            return RunPrior(Path(self.run), labels)
        try:
            names = read_labels(self.model_labels)
        except InputError as exc:
            raise InputError(f"--prior-labels {exc}") from exc
        return HybridPrior(Path(self.model), names, labels, Path(self.model_labels))


def prior_files(model: str | Path | None = None, model_labels: str | Path | None = None,
                run: str | Path | None = None) -> PriorFiles | None:
    """PriorFiles of the flags given (paths or None), or None when no prior flag is given."""
    if model is None and model_labels is None and run is None:
        return None
    return PriorFiles(*(Path(p) if p is not None else None for p in (model, model_labels, run)))
