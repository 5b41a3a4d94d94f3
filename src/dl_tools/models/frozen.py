"""Frozen classifier graphs (``.pb``): the one model file that retrain.py writes and every later step reads.

Contract (the legacy retrain's, kept): a binary ``GraphDef`` with every weight stored as a constant; input
placeholder ``Placeholder`` float32 (None, h, w, 3) with pixel values in [0, 1]; output ``final_result`` (or the
name given to retrain.py's ``--final_tensor_name``: the loader then takes the one node nothing else reads), the
softmax (None, N). The class names are in the labels file written beside it (line k = class k). Graphs written by the
legacy TensorFlow 1 retrain.py follow the same contract and load here too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import InputError

INPUT_NAME = "Placeholder"
OUTPUT_NAME = "final_result"
#: The graph file of a TensorFlow SavedModel folder (retrain.py --saved_model_dir), binary or text.
SAVED_MODEL_GRAPHS = ("saved_model.pb", "saved_model.pbtxt")
#: .pb files of a SavedModel folder that are not frozen graphs.
NOT_FROZEN = (*SAVED_MODEL_GRAPHS, "fingerprint.pb")


def check_model_folder(path: str | os.PathLike, flag: str) -> None:
    """InputError naming ``flag`` when the model ``path`` is a folder: a SavedModel folder is named as such; another
    folder is answered with a frozen graph (a .pb other than a SavedModel's) found in it."""
    path = Path(path)
    if not path.is_dir():
        return
    fix = "give the frozen .pb file written by retrain.py --output_graph"
    if any((path / name).is_file() for name in SAVED_MODEL_GRAPHS):
        raise InputError(f"{flag} {path} is a SavedModel folder; {fix}")
    found = sorted(p for p in path.glob("*.pb") if p.name not in NOT_FROZEN)
    hint = f", e.g. {found[0]}" if found else ""
    raise InputError(f"{flag} {path} is a folder, not a model file; {fix}{hint}")


def freeze(fn: Callable, input_size: tuple[int, int], output_name: str = OUTPUT_NAME):
    """A frozen concrete function of ``fn`` ((B, h, w, 3) float32 -> one tensor) with every variable (also those of
    modules loaded with tensorflow_hub) turned into a constant, which lets TensorFlow fold batch normalisation into
    the convolutions (about 10 % faster on a CPU). Its input op is ``Placeholder``, its output op ``output_name``."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    height, width = input_size

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32, name=INPUT_NAME)])
    def serve(Placeholder):  # noqa: N803 - the argument name becomes the input op's name
        return tf.identity(fn(Placeholder), name=output_name)

    return convert_variables_to_constants_v2(serve.get_concrete_function())


def export_frozen_graph(probs_fn: Callable, input_size: tuple[int, int], path: str | os.PathLike,
                        output_name: str = OUTPUT_NAME) -> Path:
    """Freeze ``probs_fn`` (a TensorFlow callable: (B, h, w, 3) float32 in [0, 1] -> (B, N) softmax) into ``path``,
    written atomically, its output op named ``output_name``."""
    graph_def = freeze(probs_fn, input_size, output_name).graph.as_graph_def()
    names = {node.name for node in graph_def.node}
    if INPUT_NAME not in names or output_name not in names:  # a bug, not bad input
        raise RuntimeError(f"frozen graph lacks {INPUT_NAME!r} or {output_name!r}")
    from ..io.atomic import write_bytes_atomic

    return write_bytes_atomic(path, graph_def.SerializeToString())


def check_saved_model_dir(path: str | os.PathLike, flag: str = "--saved_model_dir") -> Path:
    """Return ``path`` as a Path; InputError naming ``flag`` when it is a file, or a folder that holds anything but
    a SavedModel (an earlier one is replaced; anything else a person keeps there is never deleted)."""
    from ..io.atomic import check_output_dir

    path = check_output_dir(path, flag)
    if path.is_dir() and any(path.iterdir()) and not any((path / name).is_file() for name in SAVED_MODEL_GRAPHS):
        raise InputError(f"{flag} {path} is a folder holding other files, not a SavedModel; give a new or empty "
                         "folder (it is replaced by the model)")
    return path


def export_saved_model(probs_fn: Callable, input_size: tuple[int, int], path: str | os.PathLike,
                       holds: object = None) -> Path:
    """Write ``probs_fn`` as a TensorFlow SavedModel folder at ``path`` (the legacy ``--saved_model_dir``): its
    ``serving_default`` signature takes ``image`` (B, h, w, 3) float32 in [0, 1] and returns ``prediction``, the
    (B, N) softmax. ``holds``: the object owning the variables ``probs_fn`` reads (e.g. the loaded TF-Hub module),
    saved with it. An earlier SavedModel there is replaced only once the new one is complete; a folder holding
    anything else is refused (``check_saved_model_dir``)."""
    import shutil
    import tempfile

    import tensorflow as tf

    from ..io.atomic import new_mode

    height, width = input_size
    export = tf.Module()
    export.holds = holds

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32, name="image")])
    def serve(image):
        return {"prediction": probs_fn(image)}

    export.serve = serve
    path = check_saved_model_dir(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        tf.saved_model.save(export, str(staging), signatures={"serving_default": serve})
        staging.chmod(new_mode(directory=True))
        if path.exists():
            shutil.rmtree(path)
        staging.rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def _output_node(nodes: dict, path: Path) -> str:
    """``final_result`` if the graph has it, else the one node no other node reads (a renamed output)."""
    if OUTPUT_NAME in nodes:
        return OUTPUT_NAME
    read = {name.lstrip("^").split(":")[0] for node in nodes.values() for name in node.input}
    ends = [name for name, node in nodes.items() if name not in read and node.op not in ("NoOp", "Const")]
    if len(ends) != 1:
        raise InputError(f"model file {path} has no node {OUTPUT_NAME!r} and {len(ends)} candidate outputs; "
                         "give a .pb written by retrain.py")
    return ends[0]


def _static_dim(value) -> int | None:
    return None if value is None or value < 0 else int(value)


class FrozenClassifier:
    """A frozen ``.pb`` classifier (see the module doc), loaded with TensorFlow 2.

    input_size : (h, w) of the input images, from the placeholder's shape.
    n_classes  : N, the length of the softmax.
    """

    def __init__(self, path: str | os.PathLike):
        import tensorflow as tf

        self.path = Path(path)
        check_model_folder(self.path, "model file")
        if not self.path.is_file():
            raise InputError(f"model file {self.path} does not exist; give the .pb written by retrain.py")
        graph_def = tf.compat.v1.GraphDef()
        try:
            graph_def.ParseFromString(self.path.read_bytes())
        except Exception as exc:  # protobuf raises DecodeError, a plain Exception subclass
            raise InputError(f"model file {self.path} is not a frozen TensorFlow graph (.pb): {exc}") from exc
        nodes = {node.name: node for node in graph_def.node}
        if INPUT_NAME not in nodes:
            raise InputError(f"model file {self.path} has no node {INPUT_NAME!r}; give a .pb written by retrain.py")
        output = _output_node(nodes, self.path)
        dims = [d.size for d in nodes[INPUT_NAME].attr["shape"].shape.dim]
        if len(dims) != 4 or _static_dim(dims[1]) is None or _static_dim(dims[2]) is None:
            raise InputError(f"model file {self.path}: input {INPUT_NAME!r} has shape {dims}, not (None, h, w, 3) "
                             "with a fixed image size")
        self.input_size = (int(dims[1]), int(dims[2]))

        def _import():
            tf.compat.v1.import_graph_def(graph_def, name="")

        wrapped = tf.compat.v1.wrap_function(_import, [])
        graph = wrapped.graph
        self._fn = wrapped.prune(graph.get_tensor_by_name(f"{INPUT_NAME}:0"), graph.get_tensor_by_name(f"{output}:0"))
        n_classes = _static_dim(graph.get_tensor_by_name(f"{output}:0").shape[-1])
        if n_classes is None:
            n_classes = self._run(np.zeros((1, *self.input_size, 3), np.float32)).shape[1]
        self.n_classes = int(n_classes)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        return self._fn(tf.constant(batch, dtype=tf.float32)).numpy().astype(np.float32)

    def predict(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities (B, N) float32 of ``images`` (B, h, w, 3): uint8 (divided by 255) or float in [0, 1].

        The images must already be ``input_size``; see ``io.images.resize_image``.
        """
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[1:] != (*self.input_size, 3):
            raise ValueError(f"images must be (B, {self.input_size[0]}, {self.input_size[1]}, 3), "
                             f"got {images.shape}")
        scale = 1.0 / 255.0 if images.dtype == np.uint8 else 1.0
        out = np.empty((len(images), self.n_classes), np.float32)
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size].astype(np.float32) * scale
            out[start:start + batch_size] = self._run(batch)
        return out
