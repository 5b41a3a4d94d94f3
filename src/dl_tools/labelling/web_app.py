"""The web view of the labelling tool: an ASGI app serving one page (``static/``) and the JSON API it calls.

Starlette (served by uvicorn) because it is small, has no template or database layer we would not use, runs
blocking work in threads and the CRF in our own worker (``web_jobs``) without freezing the other requests, and
ships a test client, so the whole API is tested without a browser or a network port. Both are imported only by
the web labeller (``--help`` of every step stays fast).

The server owns the truth: every stroke, undo and redo is written to disk (``stroke_history``) before the request
returns, and the page redraws from what the server answers. Security by construction: only the images listed at
start are served (by name; any other name, ``..``, an absolute path or a symlink leading out of the folder is
refused), nothing is written outside the output folder, request bodies are limited to ``MAX_BODY`` bytes, and a
``token`` is required by every request, except (``loopback_free``, when the server listens on this machine only)
those addressed to a loopback name (``Host: 127.0.0.1`` or ``localhost``): a page of another site that renames
itself to 127.0.0.1 (DNS rebinding) still needs the token, and so does a proxy (JupyterHub's) that keeps its own
host name.

API (``<name>`` = an image's file name; JSON in and out unless said otherwise):
  GET  /                             the page          GET /static/<file>    its script and style sheet
  GET  api/config                    classes, colours, keys, limits
  GET  api/images                    every image with its state: "to do", "started" (strokes) or "labelled"
  GET  api/images/<name>             its size, display size, stroke state, latest result
  GET  api/images/<name>/display.jpg the image, reduced to at most ``DISPLAY_SIDE`` px a side
  GET  api/images/<name>/strokes.png the strokes in their class colours (RGBA), at display size
  GET  api/images/<name>/result.png  the latest labels (or the model's proposal) in class colours, at display size
  POST api/images/<name>/strokes     {"class": k or -1 (eraser), "width": px, "points": [[x, y], ...]} (full size)
  POST api/images/<name>/undo, /redo
  POST api/images/<name>/compute     queue the labels of the strokes -> {"job": id}
  POST api/images/<name>/save        {"overwrite": false} -> step 2's outputs; 409 when <name>_mres.mat exists
  GET  api/jobs/<id>                 a computation's state: queued, running, done, failed, cancelled
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..errors import InputError
from ..file_contract import WEB_PAGE
from .session import CLASS_KEYS, ERASER
from .stroke_history import StrokeHistory
from .web_jobs import Jobs

if TYPE_CHECKING:
    from .prior import ModelEvidence

#: Longest side, in pixels, of the copy of an image the page shows (strokes are mapped back to full size).
DISPLAY_SIDE = 2048
#: Largest request body in bytes (a stroke of ``MAX_POINTS`` points takes about a quarter of it).
MAX_BODY = 1_000_000
#: Most points in one stroke, and widest stroke in full-size pixels.
MAX_POINTS, MAX_WIDTH = 50_000, 2_000
#: Full-size images kept in memory at once (the most recently used).
CACHED_IMAGES = 3
#: The files of the page, served by name only.
STATIC_FILES = {"app.js": "text/javascript", "app.css": "text/css"}
#: The only content type of the API's POST requests (another site's page cannot send it without the server's
#: consent, which it never gives: no cross-site request can change anything).
JSON = "application/json"
#: Opacity (0-255) of the strokes on the page.
STROKE_ALPHA = 230


class Backend(Protocol):
    """What the app asks of the labelling step (``workflows.label_web``), which alone knows step 2's engine and
    writers. ``image`` (H, W, 3) uint8 RGB; ``sparse`` (H, W) uint8, 0 = none, k = class k-1; ``prior`` what a model
    gives for the image (``labelling.prior.ModelEvidence``: its per-class probabilities and, when it has them, its
    per-pixel features, on the image's grid or a coarser one), or None."""

    labels: list[str]
    colors: np.ndarray

    def shape(self, path: Path) -> tuple[int, int]: ...  # (H, W) from the header; InputError for a bad image

    def read_image(self, path: Path) -> np.ndarray: ...

    def open_history(self, path: Path, shape: tuple[int, int]) -> StrokeHistory: ...

    def prior(self, path: Path, image: np.ndarray) -> ModelEvidence | None: ...

    def compute(self, path: Path, image: np.ndarray, sparse: np.ndarray, prior: ModelEvidence | None) -> Any: ...
    # returns an object with ``label_image`` ((H, W) uint8) and ``warnings`` (list of str)

    def is_labelled(self, path: Path) -> bool: ...  # its <name>_mres.mat exists

    def has_strokes(self, path: Path) -> bool: ...  # strokes were saved for it (before this server started)

    def save(self, path: Path, image: np.ndarray, computed: Any, overwrite: bool,
             annotation_seconds: float) -> list[Path]: ...  # InputError when <name>_mres.mat exists, not overwrite


@dataclass
class _ImageState:
    """What the server holds of one image: its strokes, its display size, and the latest labels with the revision
    of the strokes they were computed from."""

    path: Path
    shape: tuple[int, int]
    history: StrokeHistory
    lock: threading.Lock = field(default_factory=threading.Lock)
    result: Any = None
    result_revision: int | None = None
    proposal: np.ndarray | None = None  # (H, W) uint8 argmax of the model's prior
    first_change: float | None = None

    @property
    def display_shape(self) -> tuple[int, int]:
        factor = min(1.0, DISPLAY_SIDE / max(self.shape))
        return max(1, round(self.shape[0] * factor)), max(1, round(self.shape[1] * factor))


class _RequestError(Exception):
    """A request the server refuses: HTTP ``status`` and a one-line message for the page."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class WebLabeller:
    """The server's state: the served images (by name), their ``_ImageState``, the worker, and the ASGI app.

    images : the image files to serve (inside ``folder``).  token : required by every request when not None,
    but those addressed to a loopback host name when ``loopback_free``.
    user   : who labels (shown in the page; the backend writes it into the outputs).
    """

    def __init__(self, backend: Backend, images: list[Path], folder: Path, token: str | None = None,
                 user: str | None = None, settings: dict | None = None, loopback_free: bool = False):
        self.backend = backend
        self.folder = Path(folder).resolve()
        self.images = {path.name: path for path in images if self._inside(path)}
        self.token, self.loopback_free = token, loopback_free
        self.user = user
        self.settings = dict(settings or {})
        self.jobs = Jobs()
        self._states: dict[str, _ImageState] = {}
        self._pixels: OrderedDict[str, tuple[np.ndarray, np.ndarray | None]] = OrderedDict()
        self._lock = threading.Lock()
        self.app = self._build_app()

    def _inside(self, path: Path) -> bool:
        """Whether ``path``, symlinks resolved, is a file directly inside the served folder."""
        resolved = Path(path).resolve()
        return resolved.parent == self.folder and resolved.is_file()

    # ---- images and their state
    def _path(self, name: str) -> Path:
        """The served image called ``name``; 403 for a name reaching outside the folder, 404 for an unknown one."""
        if "/" in name or "\\" in name or name in ("", ".", "..") or Path(name).is_absolute():
            raise _RequestError(403, f"{name!r} is not an image of the served folder")
        path = self.images.get(name)
        if path is None:
            raise _RequestError(404, f"no image {name!r} in the served folder")
        if not self._inside(path):  # replaced by a symlink leading out since the start
            raise _RequestError(403, f"{name!r} now leads outside the served folder; it is not served")
        return path

    def state(self, name: str) -> _ImageState:
        path = self._path(name)
        with self._lock:
            if name not in self._states:
                shape = self.backend.shape(path)
                self._states[name] = _ImageState(path, shape, self.backend.open_history(path, shape))
            return self._states[name]

    def pixels(self, state: _ImageState) -> tuple[np.ndarray, ModelEvidence | None]:
        """The (H, W, 3) uint8 image and the model's evidence (None without a model), read and computed
        once and kept while among the ``CACHED_IMAGES`` used last."""
        name = state.path.name
        with self._lock:
            if name in self._pixels:
                self._pixels.move_to_end(name)
                return self._pixels[name]
        image = self.backend.read_image(state.path)
        prior = self.backend.prior(state.path, image)
        if prior is not None and state.proposal is None:
            state.proposal = prior.proposal(image.shape[:2])
        with self._lock:
            self._pixels[name] = image, prior
            while len(self._pixels) > CACHED_IMAGES:
                self._pixels.popitem(last=False)
        return image, prior

    def image_list(self) -> list[dict]:
        listed = []
        for name, path in self.images.items():
            state = self._states.get(name)
            started = state.history.has_strokes if state is not None else self.backend.has_strokes(path)
            status = "labelled" if self.backend.is_labelled(path) else "started" if started else "to do"
            listed.append({"name": name, "state": status})
        return listed

    def image_info(self, name: str) -> dict:
        state = self.state(name)
        height, width = state.display_shape
        with state.lock:
            fresh = state.result is not None and state.result_revision == state.history.revision
            return {"name": name, "width": state.shape[1], "height": state.shape[0], "display_width": width,
                    "display_height": height, "factor": width / state.shape[1], **state.history.state(),
                    "result": state.result is not None or state.proposal is not None, "result_fresh": fresh,
                    "labelled": self.backend.is_labelled(state.path)}

    # ---- strokes
    def add_stroke(self, name: str, body: dict) -> dict:
        state = self.state(name)
        class_index, width, points = _stroke_fields(body, len(self.backend.labels))
        with state.lock:
            try:
                state.history.add(class_index, width, points)
            except InputError as exc:
                raise _RequestError(400, str(exc)) from exc
            state.first_change = state.first_change or time.time()
            return state.history.state()

    def undo_redo(self, name: str, redo: bool) -> dict:
        state = self.state(name)
        with state.lock:
            changed = state.history.redo() if redo else state.history.undo()
            return {**state.history.state(), "changed": changed}

    # ---- computing and saving
    def compute(self, name: str):
        """Queue the computation of the labels of the current strokes; returns the job."""
        state = self.state(name)
        with state.lock:
            sparse, revision = state.history.sparse.copy(), state.history.revision

        def work():
            image, prior = self.pixels(state)
            result = self.backend.compute(state.path, image, sparse, prior)
            with state.lock:
                if state.result_revision is None or revision >= state.result_revision:
                    state.result, state.result_revision = result, revision
            return {"warnings": list(getattr(result, "warnings", []))}

        return self.jobs.submit(name, "compute", work)

    def save(self, name: str, overwrite: bool):
        """Queue: compute the labels unless those of the current strokes exist, then write step 2's outputs."""
        state = self.state(name)
        if self.backend.is_labelled(state.path) and not overwrite:
            raise _RequestError(409, f"{state.path.stem}_mres.mat already exists: confirm to replace it")
        with state.lock:
            sparse, revision = state.history.sparse.copy(), state.history.revision

        def work():
            image, prior = self.pixels(state)
            with state.lock:
                result = state.result if state.result_revision == revision else None
            if result is None:
                result = self.backend.compute(state.path, image, sparse, prior)
                with state.lock:
                    state.result, state.result_revision = result, revision
            seconds = time.time() - state.first_change if state.first_change else 0.0
            written = self.backend.save(state.path, image, result, overwrite, seconds)
            return {"outputs": [path.name for path in written], "warnings": list(getattr(result, "warnings", []))}

        return self.jobs.submit(name, "save", work)

    # ---- pictures for the page
    def display_jpeg(self, name: str) -> bytes:
        from ..arrays.resize import resize_image
        from ..io.images import encode_image

        state = self.state(name)
        return encode_image(resize_image(self.pixels(state)[0], state.display_shape), ".jpg", quality=90)

    def overlay_png(self, name: str, what: str) -> bytes:
        """The strokes or the latest labels in class colours, RGBA at display size (transparent elsewhere)."""
        from ..arrays.resize import resize_labels
        from ..io.images import encode_image

        state = self.state(name)
        with state.lock:
            if what == "strokes":
                classes, alpha = state.history.sparse.astype(np.int16) - 1, STROKE_ALPHA
            elif state.result is not None:
                classes, alpha = state.result.label_image.astype(np.int16), 255
            elif state.proposal is not None:
                classes, alpha = state.proposal.astype(np.int16), 255
            else:
                raise _RequestError(404, "nothing computed yet: press compute")
        classes = resize_labels(classes, state.display_shape)
        rgba = np.zeros(classes.shape + (4,), np.uint8)
        drawn = classes >= 0
        rgba[drawn, :3] = np.asarray(self.backend.colors, np.uint8)[classes[drawn]]
        rgba[drawn, 3] = alpha
        return encode_image(rgba, ".png")

    def config(self) -> dict:
        return {"labels": self.backend.labels, "colors": np.asarray(self.backend.colors).tolist(),
                "keys": list(CLASS_KEYS[:len(self.backend.labels)]), "eraser": ERASER, "user": self.user,
                "max_points": MAX_POINTS, "max_width": MAX_WIDTH, "settings": self.settings}

    # ---- the ASGI app
    def _build_app(self):
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        def handled(method):
            """Turn a refused request or bad input into a JSON error with its status."""

            async def endpoint(request):
                try:
                    return await method(request)
                except _RequestError as exc:
                    return JSONResponse({"error": str(exc)}, status_code=exc.status)
                except InputError as exc:
                    return JSONResponse({"error": str(exc)}, status_code=400)

            return endpoint

        def in_thread(function, *args):
            from starlette.concurrency import run_in_threadpool

            return run_in_threadpool(function, *args)

        def job_response(job):
            return JSONResponse(job.status(), status_code=202)

        async def page(request):
            html = (resources.files(__package__) / "static" / WEB_PAGE).read_text(encoding="utf-8")
            return Response(html, media_type="text/html", headers={"Cache-Control": "no-store"})

        async def static(request):
            name = request.path_params["file"]
            if name not in STATIC_FILES:
                raise _RequestError(404, f"no file {name!r}")
            text = (resources.files(__package__) / "static" / name).read_text(encoding="utf-8")
            return Response(text, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-store"})

        async def config(request):
            return JSONResponse(self.config())

        async def images(request):
            return JSONResponse(await in_thread(self.image_list))

        async def image(request):
            return JSONResponse(await in_thread(self.image_info, request.path_params["name"]))

        async def display(request):
            data = await in_thread(self.display_jpeg, request.path_params["name"])
            return Response(data, media_type="image/jpeg")

        async def overlay(request):
            what = request.path_params["what"]
            if what not in ("strokes", "result"):
                raise _RequestError(404, f"no picture {what!r}")
            data = await in_thread(self.overlay_png, request.path_params["name"], what)
            return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

        async def strokes(request):
            body = await read_json(request)
            return JSONResponse(await in_thread(self.add_stroke, request.path_params["name"], body))

        async def undo(request):
            return JSONResponse(await in_thread(self.undo_redo, request.path_params["name"], False))

        async def redo(request):
            return JSONResponse(await in_thread(self.undo_redo, request.path_params["name"], True))

        async def compute(request):
            return job_response(await in_thread(self.compute, request.path_params["name"]))

        async def save(request):
            body = await read_json(request)
            overwrite = body.get("overwrite", False)
            if not isinstance(overwrite, bool):
                raise _RequestError(400, "overwrite must be true or false")
            job = await self.jobs.wait(await in_thread(self.save, request.path_params["name"], overwrite))
            status = {"done": 200, "cancelled": 409}.get(job.state, 400)
            return JSONResponse({**job.status(), **(job.result or {})}, status_code=status)

        async def job(request):
            found = self.jobs.get(request.path_params["id"])
            if found is None:
                raise _RequestError(404, "no such job")
            return JSONResponse({**found.status(), **(found.result or {})})

        routes = [Route("/", handled(page)), Route("/static/{file}", handled(static)),
                  Route("/api/config", handled(config)), Route("/api/images", handled(images)),
                  Route("/api/images/{name}", handled(image)),
                  Route("/api/images/{name}/display.jpg", handled(display)),
                  Route("/api/images/{name}/{what}.png", handled(overlay)),
                  Route("/api/images/{name}/strokes", handled(strokes), methods=["POST"]),
                  Route("/api/images/{name}/undo", handled(undo), methods=["POST"]),
                  Route("/api/images/{name}/redo", handled(redo), methods=["POST"]),
                  Route("/api/images/{name}/compute", handled(compute), methods=["POST"]),
                  Route("/api/images/{name}/save", handled(save), methods=["POST"]),
                  Route("/api/jobs/{id:int}", handled(job))]
        guard = Middleware(_Guard, token=self.token, loopback_free=self.loopback_free)
        return Starlette(routes=routes, middleware=[guard])


async def read_json(request) -> dict:
    """The JSON object of a request body of at most ``MAX_BODY`` bytes; 413 beyond, 400 for anything but JSON."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _RequestError(413, f"request body larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks) or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise _RequestError(400, f"the request is not valid JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise _RequestError(400, "the request must be a JSON object")
    return body


def _stroke_fields(body: dict, n_classes: int) -> tuple[int, int, list[tuple[int, int]]]:
    """(class index, width, points) of a stroke request, checked; 400 naming the field otherwise."""
    class_index, width, points = body.get("class"), body.get("width"), body.get("points")
    if type(class_index) is not int or not (class_index == ERASER or 0 <= class_index < n_classes):
        raise _RequestError(400, f"unknown class {class_index!r}: give 0..{n_classes - 1}, or {ERASER} (eraser)")
    if type(width) is not int or not 1 <= width <= MAX_WIDTH:
        raise _RequestError(400, f"width must be an integer from 1 to {MAX_WIDTH} px, got {width!r}")
    if not isinstance(points, list) or not 1 <= len(points) <= MAX_POINTS:
        raise _RequestError(400, f"points must be a list of 1 to {MAX_POINTS} [x, y] pairs")
    if not all(isinstance(p, list) and len(p) == 2 and all(type(v) is int for v in p) for p in points):
        raise _RequestError(400, "each point must be [x, y], two integers (full-size pixels)")
    return class_index, width, [(x, y) for x, y in points]


def is_loopback_host(host: str) -> bool:
    """Whether a ``Host`` header (name or address, with or without its port) names this machine's loopback."""
    import ipaddress

    name = host.rsplit("]", 1)[0].lstrip("[") if host.startswith("[") else host.rsplit(":", 1)[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class _Guard:
    """ASGI middleware: the token (query ``token`` or header ``X-Token``) when one is set, for every request but
    those of the page and its static files (which hold no data); JSON for every POST (``JSON``); and the declared
    body size (``Content-Length`` above ``MAX_BODY``: 413 before the body is read)."""

    def __init__(self, app, token: str | None, loopback_free: bool = False):
        self.app = app
        self.token, self.loopback_free = token, loopback_free

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from starlette.requests import Request
        from starlette.responses import JSONResponse

        request = Request(scope)
        given = request.query_params.get("token") or request.headers.get("x-token") or ""
        length = request.headers.get("content-length", "0")
        refused = None
        public = scope["path"] == "/" or scope["path"].startswith("/static/")  # the page itself holds no data
        public = public or (self.loopback_free and is_loopback_host(request.headers.get("host", "")))
        if self.token is not None and not public and not secrets.compare_digest(given.encode(), self.token.encode()):
            refused = JSONResponse({"error": "missing or wrong token: open the address the server printed"},
                                   status_code=403)
        elif scope["method"] == "POST" and request.headers.get("content-type", "").split(";")[0] != JSON:
            # a page of another site can send a form or text/plain POST here without asking; JSON it cannot
            refused = JSONResponse({"error": f"POST requests must be {JSON}"}, status_code=415)
        elif not length.isdigit():
            refused = JSONResponse({"error": "bad Content-Length"}, status_code=400)
        elif int(length) > MAX_BODY:
            refused = JSONResponse({"error": f"request body larger than {MAX_BODY} bytes"}, status_code=413)
        if refused is not None:
            return await refused(scope, receive, send)
        return await self.app(scope, receive, send)
