"""Reading back the provenance record (``dl_tools.provenance_record``) of any output, whatever its format.

Where each output keeps it (``file_contract`` names):

- a label ``.mat`` file: the variable ``provenance`` (JSON text), see ``io.mat``;
- a label GeoTIFF: the metadata tag ``DL_TOOLS_PROVENANCE`` (JSON text), see ``io.geotiff``;
- a label-ids PNG of make_labels.py: the text chunk ``DL_TOOLS_PROVENANCE``, see ``io.images``;
- a step-4 model ``<name>.pb``: the file ``<name>.provenance.json`` beside it (and in its card ``<name>.card.json``);
- a step-8 run folder: ``provenance.json`` in it (and in its ``card.json``); its weights files point to the folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import InputError
from ..file_contract import OUTPUTS, RUN_SETTINGS, TIFF_EXTENSIONS, model_sidecars, run_sidecars
from ..provenance_record import parse_record
from .atomic import write_json_atomic

#: The key of the provenance record inside a model card.
CARD_RECORD = "made_by"


def write_record_file(path: str | os.PathLike, record: dict) -> Path:
    """Write ``record`` as a JSON file (a sidecar beside a model, or a run folder's), atomically."""
    return write_json_atomic(path, record, indent=1)


def _json_file(path: Path) -> dict | None:
    """The record held by a JSON file: a record file itself, or a model card's ``CARD_RECORD``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not a readable JSON file ({exc}); give an output DL tools wrote") from exc
    if isinstance(data, dict) and CARD_RECORD in data:
        data = data[CARD_RECORD]
    return parse_record(json.dumps(data), str(path))


def record_source(path: str | os.PathLike) -> Path:
    """The file that holds the provenance record of the output ``path``: itself (a .mat, GeoTIFF, record file or
    JSON card), the JSON twin of a Markdown card, or the record file of a model, run folder or file in a run folder
    (which may not exist)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist; give an output of a DL tools step (.mat, .tif, model .pb, run "
                         "folder or model card)")
    if path.is_dir():
        return run_sidecars(path)["provenance"]
    run, names = run_sidecars(path.parent), OUTPUTS["model"]
    if path.name.endswith(names["card_text"]):  # a Markdown card: its JSON twin holds the record
        return path.with_name(path.name[: -len(names["card_text"])] + names["card"])
    if path == run["card_text"]:
        return run["card"]
    if (path.suffix.lower() in (".mat", ".png", *TIFF_EXTENSIONS) or path in (run["card"], run["provenance"])
            or path.name.endswith((names["card"], names["provenance"]))):
        return path
    if (path.parent / RUN_SETTINGS).is_file():  # a file of a run folder: best.weights.h5, last.keras, ...
        return run["provenance"]
    return model_sidecars(path)["provenance"]


def read_record(path: str | os.PathLike) -> dict:
    """The provenance record of the output ``path`` (module doc); InputError when it has none (an output of an
    older DL tools, or not of DL tools), or when its record does not parse (which is also warned about)."""
    from .geotiff import read_geotiff_record
    from .images import read_png_record
    from .mat import read_mat_record

    path = Path(path)
    source = record_source(path)
    if not source.is_file():
        raise InputError(f"{path} has no provenance record ({source.name} not found): it was not written by a DL "
                         "tools step that records one")
    suffix = source.suffix.lower()
    readers = {".mat": read_mat_record, ".png": read_png_record} | dict.fromkeys(TIFF_EXTENSIONS, read_geotiff_record)
    reader = readers.get(suffix, _json_file)
    record = reader(source)
    if record is None:
        raise InputError(f"{path} holds no readable provenance record; it was written by an older DL tools or by "
                         "another program")
    return record
