"""The architecture holds: every import of the package goes down the layers, and TensorFlow stays in models/.

Layers, lowest first (README, "For developers"): a module may import its own package and any lower layer, never
a higher one or another package of its own layer. Lazy imports inside functions count as imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "dl_tools"

#: the top-level part of a module's name (``dl_tools.<part>...``) -> its layer
LAYERS = {
    "__init__": 0, "errors": 0, "quiet_import": 0, "terminal": 0, "file_contract": 0, "provenance_record": 0,
    "arrays": 1, "metrics": 1,
    "segmentation": 2, "plotting": 2, "intervals": 2,
    "io": 3,
    "models": 4,
    "labelling": 5,
    "workflows": 6,
    "cli": 7, "__main__": 8, "provenance": 8,
}
HEAVY_ML = ("tensorflow", "keras", "tensorflow_hub", "tf_keras")


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> list[str]:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts


def imported_parts(path: Path) -> list[tuple[int, str]]:
    """(line, top-level part of dl_tools) of every dl_tools module that ``path`` imports."""
    own = module_name(path)
    package = own if path.name == "__init__.py" else own[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
                if not target:  # ``from . import x`` at the top: x is the part
                    target = [node.names[0].name]
            elif node.module and node.module.split(".")[0] == "dl_tools":
                target = node.module.split(".")[1:] or [node.names[0].name]
            else:
                continue
            found.append((node.lineno, target[0]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[1]) for alias in node.names
                      if alias.name.startswith("dl_tools.")]
    return found


def test_every_module_belongs_to_a_layer():
    unknown = {module_name(p)[0] for p in modules()} - set(LAYERS)
    assert not unknown, f"give these a layer in LAYERS and in the README: {unknown}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down(path):
    own = module_name(path)[0]
    wrong = [f"line {line}: {own} (layer {LAYERS[own]}) imports {part} (layer {LAYERS.get(part)})"
             for line, part in imported_parts(path)
             if part != own and LAYERS.get(part, 99) >= LAYERS[own]]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_tensorflow_is_imported_only_in_models(path):
    if module_name(path)[0] == "models":
        return
    heavy = [node.lineno for node in ast.walk(ast.parse(path.read_text()))
             if (isinstance(node, ast.Import) and any(a.name.split(".")[0] in HEAVY_ML for a in node.names))
             or (isinstance(node, ast.ImportFrom) and not node.level and node.module
                 and node.module.split(".")[0] in HEAVY_ML)]
    assert not heavy, f"TensorFlow imported outside models/ at lines {heavy}: move that code into models/"


def test_the_checker_sees_a_wrong_import(tmp_path):
    """The rule itself: an array module importing io, and a relative import climbing into cli, are caught."""
    fake = PACKAGE / "arrays" / "_layering_probe.py"
    fake.write_text("def f():\n    from ..io.images import read_image\n    from ..cli import common\n")
    try:
        parts = [part for _, part in imported_parts(fake)]
    finally:
        fake.unlink()
    assert parts == ["io", "cli"]
