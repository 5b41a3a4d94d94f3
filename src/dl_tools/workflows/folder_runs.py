"""What the folder runs of steps 6 (semseg_cnn_crf.py --input-dir) and 8 (infer.py, infer_crf.py --samples-dir)
share: which files of a folder are DL tools' own outputs, the check of every output before the work, and the loop
over the images that skips an image found unusable only while it is processed.

Every image and output is checked before the work starts (headers, names, paths). What only the work itself finds
(pixel data damaged after a good header, no tile confident enough) stops a single-image run with InputError; in a
folder run that image is skipped with a warning, the others are done, and the run ends with ``summary``: the
skipped images, each with the fix that fits its reason (the scripts print it as an ``error:`` line and exit 1).
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..file_contract import OUTPUT_PATTERNS

log = logging.getLogger(__name__)

def is_dl_tools_output(path: str | os.PathLike) -> bool:
    """True when the file name of ``path`` is one that DL tools writes (``OUTPUT_PATTERNS``)."""
    name = Path(path).name.lower()
    return any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in OUTPUT_PATTERNS)


def photographs(images: Sequence[Path], folder: str | os.PathLike, flag: str) -> list[Path]:
    """``images`` (those of ``folder``, given as ``flag``) without DL tools' own outputs; InputError when nothing
    else is left."""
    kept = [image for image in images if not is_dl_tools_output(image)]
    if not kept:
        shown = ", ".join(image.name for image in images[:3]) + (", ..." if len(images) > 3 else "")
        raise InputError(f"{flag}: {folder} holds only files written by DL tools ({shown}), no photograph; give the "
                         "folder of photographs")
    return kept


def check_outputs(outputs: Sequence[tuple[Path, dict[str, Path]]], overwrite: bool, clash_fix: str) -> None:
    """Check the output files of each image, given as (image, {kind: path}), before any work: InputError when two
    images would write the same file (ending with ``clash_fix``), when an output is a folder or cannot be made, or
    when one exists and ``overwrite`` is false."""
    from ..io.atomic import check_can_write, check_output_file

    owners: dict[Path, Path] = {}
    for image, paths in outputs:
        for path in paths.values():
            other = owners.setdefault(path, image)
            if other != image:
                raise InputError(f"{other.name} and {image.name} would both be written as {path.name} (and the "
                                 f"other outputs); {clash_fix}")
    for _, paths in outputs:
        for path in paths.values():
            check_output_file(path, "output", fix="rename or remove the folder")
            check_can_write(path, overwrite)


class ImageUnusable(InputError):
    """An image that the work itself finds unusable; ``fix`` is the advice that fits the reason."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.fix = fix

    def __reduce__(self):  # pickled with its fix (a Dask task's error reaches the client so)
        return type(self), (str(self), self.fix)


@dataclass(frozen=True)
class Skipped:
    """An image of a folder run that was not done: ``reason`` (the error, naming the image) and ``fix``."""

    image: Path
    reason: str
    fix: str


@dataclass
class FolderRun:
    """The result of ``process_images``: what ``process`` returned for each image done, and the images skipped
    (in input order)."""

    outputs: list[Any] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _advice(skipped: Sequence[Skipped]) -> str:
    """The fixes of ``skipped``, each after the names of the images it is for: 'a.jpg, b.jpg: fix; c.jpg: fix'."""
    by_fix: dict[str, list[str]] = {}
    for item in skipped:
        by_fix.setdefault(item.fix, []).append(item.image.name)
    return "; ".join(f"{', '.join(names)}: {fix}" for fix, names in by_fix.items())


def process_images(plan: Sequence[tuple], process: Callable[..., Any], *, skip: bool, fix: str, flag: str,
                   done: str, client=None, on_client: Callable[[tuple], bool] | None = None) -> FolderRun:
    """Call ``process(*item)`` for each item of ``plan`` (tuples whose first element is the image's path), with a
    progress bar when there are several, collecting what it returns (in the order of ``plan``).

    An InputError raised by ``process`` stops the run when ``skip`` is false (a single image). Otherwise (a folder
    given as ``flag``) the image is skipped with a warning and listed with its fix: the error's own (ImageUnusable)
    or else ``fix`` (e.g. for pixel data that cannot be read); InputError when no image at all was done (so nothing
    was written). ``done`` is the participle of the work for messages, e.g. "segmented".

    With a Dask ``client`` (``workflows.distributed``) every item is a task on its cluster (``process`` must then
    be picklable), but those for which ``on_client(item)`` is true (a raster whose windows are tasks of their own),
    called here first as ``process(*item, client=client)``; what is returned, skipped and raised is the same as in
    the serial run (where, given ``on_client``, those items get ``client=None``).
    """
    from ..terminal import progress

    local = [i for i, item in enumerate(plan) if client is None or (on_client is not None and on_client(item))]
    results: dict[int, Any] = {}
    skipped: dict[int, Skipped] = {}

    def call(index: int):
        if on_client is not None and on_client(plan[index]):
            return process(*plan[index], client=client)
        return process(*plan[index])

    def serial():
        for index in progress(local, desc="images", unit="image") if len(local) > 1 else local:
            yield index, lambda index=index: call(index)

    def outcomes():
        yield from serial()
        if client is not None and len(local) < len(plan):
            from .distributed import map_tasks

            remote = sorted(set(range(len(plan))) - set(local))
            for index, result in map_tasks(client, process, [plan[i] for i in remote], desc="images", unit="image"):
                yield remote[index], result

    for index, result in outcomes():
        try:
            results[index] = result()
        except InputError as exc:
            if not skip:
                raise
            log.warning("not %s: %s", done, exc)
            skipped[index] = Skipped(Path(plan[index][0]), str(exc), getattr(exc, "fix", fix))
    run = FolderRun([results[i] for i in sorted(results)], [skipped[i] for i in sorted(skipped)])
    if run.skipped and not run.outputs:
        n = len(plan)
        what = f"the only image of {flag} was not" if n == 1 else f"none of the {n} images of {flag} was"
        raise InputError(f"{what} {done} (reasons above; nothing written): {_advice(run.skipped)}")
    return run


def summary(skipped: Sequence[Skipped], total: int, done: str) -> str:
    """One line for the end of a folder run of ``total`` images: the ``skipped`` ones, that the others' outputs
    are written, and the fix for each skipped image ("" when none was skipped)."""
    if not skipped:
        return ""
    names = ", ".join(item.image.name for item in skipped)
    return (f"{len(skipped)} of {total} images not {done} (reasons above): {names}; the others' outputs are "
            f"written. {_advice(skipped)}")
