"""Tutorial step 2 in the browser (create_groundtruth/label_web.py): label a folder of images in a web page.

The page (``labelling.web_app``) sends the strokes; this module gives it step 2 itself: the same checks, the same
engine and settings (``workflows.label``'s ``_compute``: default engine, ``-s`` adjustable) and the same writers
(``_write_outputs``), so ``<name>_mres.mat``, the figure, the report, the label and colour PNGs (and ``_mres.tif``
for a GeoTIFF) are exactly those of label_1image_crf.py and steps 3-8 take them unchanged. The strokes of each
image are kept in ``<name>_scribbles.png`` and ``<name>_scribbles.json`` (``labelling.stroke_history``) in the
output folder.

A model's proposal plugs in through ``StepBackend(prior_source=..., label_with_prior=...)``: an object whose
``evidence(image, scale)`` gives its ``labelling.prior.ModelEvidence`` (per-class probabilities in the order of the
labels file, and per-pixel features when it has them), and the function that combines them with the strokes,
``label_with_prior(image, sparse, evidence, n_classes, crf_params) -> (label_image, probs)``; the page then opens
each image with the model's labels shown.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..file_contract import TIFF_EXTENSIONS, label_web_outputs
from .label import (
    LabelParams,
    _compute,
    _Job,
    _Labels,
    _record,
    _write_outputs,
    check_image_size,
    check_scale,
    output_paths,
    read_scribbles,
)

log = logging.getLogger(__name__)

#: Host names that reach this machine only, besides the loopback addresses.
LOOPBACK_NAMES = ("localhost",)
#: Addresses meaning "every address of this machine".
WILDCARDS = ("0.0.0.0", "::")


@dataclass(frozen=True)
class WebParams:
    """port : --port, the TCP port to listen on.  host : --host, the address to listen on (127.0.0.1: this
    machine only; any other address requires the token printed with the address).  user : --user, who labels
    (written into each report and ``.mat``).  open_browser : open the page in a browser when a display exists."""

    port: int = 8050
    host: str = "127.0.0.1"
    user: str | None = None
    open_browser: bool = True

    def __post_init__(self):
        if not 0 <= self.port <= 65535:
            raise InputError(f"--port must be from 0 to 65535 (0: any free port), got {self.port}")
        if not self.host.strip():
            raise InputError("--host must be an address, e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (all)")
        if self.user is not None and not self.user.strip():
            raise InputError("--user must be a name, e.g. --user 'A. Person'; leave it out to record no name")

    @property
    def loopback(self) -> bool:
        """Whether ``host`` reaches this machine only (then no token is needed)."""
        if self.host in LOOPBACK_NAMES:
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


class StepBackend:
    """Step 2 for the web labeller (``labelling.web_app.Backend``): images and outputs of one folder."""

    def __init__(self, labels: list[str], colors: np.ndarray, params: LabelParams, outdir: Path | None,
                 user: str | None = None, prior_source=None, label_with_prior: Callable | None = None,
                 class_files: tuple[Path, Path] | None = None, prior_files=None):
        if (prior_source is None) != (label_with_prior is None):
            raise ValueError("give prior_source and label_with_prior together")
        self.labels, self.colors, self.params = list(labels), np.asarray(colors, np.uint8), params
        self.outdir, self.user = outdir, user
        self.class_files = class_files  # (labels file, colours file), for the provenance record
        self.prior_files = prior_files  # the model's files (workflows.prior.PriorFiles), for the record
        self.prior_source, self.label_with_prior = prior_source, label_with_prior

    def _job(self, path: Path, shape: tuple[int, int], sparse: np.ndarray | None = None) -> _Job:
        from ..io.geotiff import read_geoinfo

        geotiff = path.suffix.lower() in TIFF_EXTENSIONS
        return _Job(path, shape, self.labels, self.colors, output_paths(path, self.outdir, geotiff), geotiff,
                    geo=read_geoinfo(path) if geotiff else None, sparse=sparse, user=self.user)

    def _folder(self, path: Path) -> Path:
        return Path(self.outdir) if self.outdir is not None else path.parent

    def shape(self, path: Path) -> tuple[int, int]:
        from ..io.images import image_shape

        shape = image_shape(path)
        check_image_size(shape, path)
        check_scale(shape, self.params.scale)
        return shape

    def read_image(self, path: Path) -> np.ndarray:
        from ..io.images import read_image

        return read_image(path, bands=self.params.bands)

    def open_history(self, path: Path, shape: tuple[int, int]):
        from ..io.images import write_image
        from ..labelling.stroke_history import StrokeHistory

        return StrokeHistory.open(shape, self.labels, label_web_outputs(self._folder(path), path.stem), write_image,
                                  lambda png: read_scribbles(png, len(self.labels), shape,
                                                             prefix="saved strokes ",
                                                             fix="remove or rename it to start this image again"))

    def has_strokes(self, path: Path) -> bool:
        return label_web_outputs(self._folder(path), path.stem)["scribbles"].exists()

    def is_labelled(self, path: Path) -> bool:
        return output_paths(path, self.outdir, False)["mat"].exists()

    def prior(self, path: Path, image: np.ndarray):
        """The model's ``ModelEvidence`` on the labelling's grid (the image times -s), or None."""
        return None if self.prior_source is None else self.prior_source.evidence(image, self.params.scale)

    def compute(self, path: Path, image: np.ndarray, sparse: np.ndarray, prior) -> _Labels:
        """Step 2's computation of the labels of ``sparse`` (with the model's ``prior`` when there is one)."""
        job = self._job(path, image.shape[:2], sparse)
        if prior is None:
            return _compute(job, image, self.params)
        crf = self.params.crf
        started = time.perf_counter()
        label_image, probs = self.label_with_prior(image, sparse, prior, len(self.labels), crf)
        return _Labels(label_image, probs, sparse, "prior", crf, 0, 0.0, time.perf_counter() - started, [])

    def save(self, path: Path, image: np.ndarray, computed: _Labels, overwrite: bool,
             annotation_seconds: float) -> list[Path]:
        """Step 2's outputs (``_write_outputs``); InputError when ``<name>_mres.mat`` exists and not ``overwrite``."""
        job = self._job(path, image.shape[:2], computed.sparse)
        computed = replace(computed, annotation_seconds=annotation_seconds)
        record = None
        if self.class_files is not None:
            strokes = label_web_outputs(self._folder(path), path.stem)["scribbles"]
            record = _record(job, computed, self.params, *self.class_files, strokes, self.prior_files)
        outputs = _write_outputs(job, image, computed, replace(self.params, overwrite=overwrite), record)
        log.info("%s labelled: %s", path.name, ", ".join(p.name for p in outputs.values()))
        return [p for role, p in outputs.items() if role != "scribbles"]


def web_images(input_dir: str | Path) -> list[Path]:
    """The photographs of ``--input`` (DL tools' own outputs left out), symlinks leading out of it refused."""
    from ..io.images import list_images
    from .folder_runs import photographs

    folder = Path(input_dir)
    images = photographs(list_images(folder, flag="--input"), folder, "--input")
    inside = [p for p in images if p.resolve().parent == folder.resolve()]
    for path in sorted(set(images) - set(inside)):
        log.warning("%s leads outside %s: not served", path.name, folder)
    if not inside:
        raise InputError(f"--input: every image of {folder} leads outside it (symlinks); give the folder that "
                         "holds the photographs themselves")
    return inside


def model_prior(prior, labels: list[str], params: LabelParams) -> dict:
    """``StepBackend``'s prior_source and label_with_prior for the model of ``prior`` (``workflows.prior``): the
    model loaded once, its probabilities the CRF's prior with the measured weighting, its features refitted to the
    corrections (``labelling.prior``)."""
    from ..labelling.prior import label_with_evidence, prior_crf_params

    source = prior.load(labels)

    def fuse(image, sparse, evidence, n_classes, crf_params):
        return label_with_evidence(image, sparse, evidence, prior_crf_params(params.scale), source.weighting)

    return {"prior_source": source, "label_with_prior": fuse, "prior_files": prior}


def by_uncertainty(images: list[Path], source, params: LabelParams) -> list[Path]:
    """``images`` sorted by the mean entropy of the model's probabilities, highest first (ties by name)."""
    from ..io.images import read_image
    from ..labelling.prior import mean_entropy
    from ..terminal import progress

    entropy = {}
    for path in progress(images, desc="model's uncertainty", unit="image"):
        entropy[path] = mean_entropy(source.probabilities(read_image(path, bands=params.bands), params.scale))
        log.info("%s: mean entropy %.3f", path.name, entropy[path])
    return sorted(images, key=lambda path: (-entropy[path], path.name))


def build_labeller(input_dir, labels_path, colors_path, params: LabelParams, web: WebParams,
                   outdir: str | Path | None = None, token: str | None = None, backend_options: dict | None = None,
                   loopback_free: bool = False, prior=None, sort_by_uncertainty: bool = False):
    """Check every input (images, labels and colours, output folder, the model of ``prior``: a
    ``workflows.prior.PriorFiles``, loaded once) and return the ``WebLabeller``; InputError naming the flag
    otherwise. Nothing is written. ``sort_by_uncertainty``: the images listed most uncertain first (the mean
    entropy of the model's probabilities)."""
    from ..io.atomic import check_output_dir
    from ..io.text import check_same_length, read_colors, read_labels
    from ..labelling.web_app import WebLabeller

    images = web_images(input_dir)
    labels = read_labels(labels_path)
    colors = read_colors(colors_path)
    check_same_length(labels, colors, labels_path, colors_path)
    if len(labels) > 255:
        raise InputError(f"labels file {labels_path}: {len(labels)} classes; at most 255 fit a scribbles PNG")
    outdir = Path(outdir) if outdir else None
    check_output_dir(outdir or Path(input_dir), "--outdir" if outdir else "output folder (--input)",
                     "give --outdir FOLDER for the outputs")
    backend_options = dict(backend_options or {})
    if prior is not None:
        backend_options.update(model_prior(prior, labels, params))
        if sort_by_uncertainty:
            images = by_uncertainty(images, backend_options["prior_source"], params)
    backend = StepBackend(labels, colors, params, outdir, web.user, class_files=(Path(labels_path), Path(colors_path)),
                          **backend_options)
    settings = {"scale": params.scale, "engine": params.engine}
    return WebLabeller(backend, images, Path(input_dir), token=token, user=web.user, settings=settings,
                       loopback_free=loopback_free)


def listening_socket(web: WebParams) -> socket.socket:
    """A socket bound to ``web.host``:``web.port`` and listening; InputError naming --port or --host if refused."""
    try:
        infos = socket.getaddrinfo(web.host, web.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"--host {web.host}: not an address of this machine ({exc.strerror}); give e.g. "
                         "127.0.0.1 or 0.0.0.0") from exc
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise InputError(f"--port {web.port} is in use (another server, perhaps an earlier label_web.py); "
                             "give another --port or stop that server") from exc
        raise InputError(f"--host {web.host} --port {web.port}: cannot listen there ({exc.strerror}); give "
                         "another --host or --port") from exc
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def page_address(web: WebParams, port: int, token: str | None) -> str:
    """The address to open: the host as given (127.0.0.1 for the wildcard addresses), the port, the token."""
    host = "127.0.0.1" if web.host in WILDCARDS else web.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/" + (f"?token={token}" if token else "")


def serve(input_dir, labels_path, colors_path, params: LabelParams, web: WebParams,
          outdir: str | Path | None = None, prior=None, sort_by_uncertainty: bool = False) -> None:
    """Run the web labeller until Ctrl-C: check the inputs, listen, print the address (and open a browser when a
    display exists), then stop cleanly (the running computation or save finishes first)."""
    import uvicorn

    from ..io.atomic import remove_stale_temporaries
    from ..terminal import count, display_available

    started = time.time()
    token = secrets.token_urlsafe(16)  # on 127.0.0.1, needed only by requests not addressed to it (labelling.web_app)
    labeller = build_labeller(input_dir, labels_path, colors_path, params, web, outdir, token,
                              loopback_free=web.loopback, prior=prior, sort_by_uncertainty=sort_by_uncertainty)
    sock = listening_socket(web)
    remove_stale_temporaries(outdir or input_dir, started)  # what a killed server left half-written
    port = sock.getsockname()[1]
    address = page_address(web, port, None if web.loopback else token)
    print(f"DL tools web labeller: {count(len(labeller.images), 'image')} of {input_dir}; open {address}",
          flush=True)
    if not web.loopback:
        if web.host in WILDCARDS:
            print(f"from another machine: {page_address(replace(web, host=socket.gethostname()), port, token)}",
                  flush=True)
        print("listening beyond this machine: the address holds the token every request needs; share it only with "
              "those who may label", flush=True)
    else:
        print(f"through a proxy (JupyterHub's jupyter-server-proxy: .../proxy/{port}/), add ?token={token} to the "
              "address", flush=True)
    print("Ctrl-C stops the server (every stroke is already saved)", flush=True)
    if web.open_browser and display_available():
        import webbrowser

        webbrowser.open(address)
    server = uvicorn.Server(uvicorn.Config(labeller.app, log_level="warning", lifespan="off"))
    try:
        server.run(sockets=[sock])
    finally:
        labeller.jobs.shutdown()
        sock.close()
        print("web labeller stopped", flush=True)
