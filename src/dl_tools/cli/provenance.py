"""dl-tools provenance: print how an output was made (its provenance record)."""

from __future__ import annotations

from .common import build_base_parser, run

DESCRIPTION = """\
Print the provenance record of an output of DL tools: the DL tools version (and git commit when run from a
clone), the command line, the date (UTC), the settings, and each input file's name, size and SHA-256; with
--check, whether each input file is still there unchanged (exit code 1 when one is not).
FILE is a label .mat file (steps 2, 6, 8), a label GeoTIFF (.tif), a label image of make_labels.py
(_gtFine_labelIds.png), a model written by retrain.py (.pb), a run folder of train.py (or a file in it), or a model
card (.card.json / .card.md). Relative input paths are taken from the folder the step ran in.

examples:
  dl-tools provenance demo_data/test/2014_0905_133718d_ares_96.mat
  python -m dl_tools.provenance obx_mobilenetv2_96_1000_001.pb --json
  dl-tools provenance data_test10 --check
"""


def build_parser():
    parser = build_base_parser("dl-tools provenance", DESCRIPTION)
    parser.add_argument("file", metavar="FILE", help="an output of a DL tools step")
    parser.add_argument("--json", action="store_true", help="print the whole record as JSON")
    parser.add_argument("--check", action="store_true",
                        help="hash each input file again and say whether it is unchanged, changed or missing "
                             "(a folder of inputs is not checked)")
    return parser


def check_inputs(record: dict) -> list[tuple[str, str]]:
    """(input path, "unchanged" / "changed" / "missing" / "not checked (a folder)") of each input of ``record``,
    a relative path taken from the record's ``cwd``."""
    from pathlib import Path

    from ..provenance_record import sha256_file

    found = []
    for entry in record.get("inputs", []):
        path = Path(record.get("cwd", ".")) / entry["path"]
        if "files" in entry:
            state = "not checked (a folder)"
        elif not path.is_file():
            state = "missing"
        else:
            state = "unchanged" if sha256_file(path) == entry.get("sha256") else "changed"
        found.append((entry["path"], state))
    return found


def format_record(record: dict) -> str:
    """The record as lines for people: who, when, how, and a line per input."""
    import json

    made = record.get("dl_tools", {})
    commit = made.get("git_commit")
    lines = [f"step:      {record.get('step')}",
             f"made by:   DL tools {made.get('version')}"
             + (f", git commit {commit}{' (with uncommitted changes)' if made.get('git_dirty') else ''}"
                if commit else " (not run from a git clone)"),
             f"date:      {record.get('date')}", f"command:   {record.get('command')}",
             f"in folder: {record.get('cwd')}", "settings:"]
    lines += [f"  {key}: {json.dumps(value)}" for key, value in record.get("settings", {}).items()]
    lines.append("inputs:")
    for entry in record.get("inputs", []):
        files = f", {entry['files']} files" if "files" in entry else ""
        lines.append(f"  {entry.get('role')}: {entry.get('path')} ({entry.get('bytes')} bytes{files}) "
                     f"sha256 {entry.get('sha256')}")
    return "\n".join(lines)


def _body(args):
    from ..io.provenance import read_record
    from ..provenance_record import record_json

    record = read_record(args.file)
    print(record_json(record, indent=1) if args.json else format_record(record))
    if args.check:
        states = check_inputs(record)
        print("inputs now:")
        for path, state in states:
            print(f"  {path}: {state}")
        return 1 if any(state in ("changed", "missing") for _, state in states) else 0


def main(argv=None) -> int:
    return run(build_parser(), _body, argv)
