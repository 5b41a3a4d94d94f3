"""What the benchmark scripts share: where the repository is, how a tutorial script is run and timed, how the
machine is described, and where each report is written (bench_out/<name>.md, git-ignored)."""

from __future__ import annotations

import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dl_tools.quiet_import import silence_tensorflow_import

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench_out"
BIG_SHAPE = (4912, 7360)  # (H, W) of a 36-megapixel photograph, the legacy demo photographs' size
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
silence_tensorflow_import()  # as the scripts do: TensorFlow's start-up lines would bury the tables


@dataclass(frozen=True)
class ScriptRun:
    """One run of a tutorial script: its standard output, wall seconds (TensorFlow start-up included) and the peak
    resident memory of its process in GB (NaN when an earlier child of this benchmark used more)."""

    stdout: str
    seconds: float
    peak_gb: float


def run_script(name: str, *args, cwd: Path) -> ScriptRun:
    """Run the tutorial script ``name`` (a path under the repository) quietly in a fresh process in ``cwd``; stop
    the benchmark with the script's output if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(REPO / name), "-q", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env=dict(os.environ, DL_TOOLS_NO_DIALOG="1", TF_CPP_MIN_LOG_LEVEL="2"))
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"{name} failed:\n{proc.stdout}\n{proc.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far (KiB on Linux); only a new maximum is this child's own
    return ScriptRun(proc.stdout, seconds, after / 1e6 if after > before else float("nan"))


def big_photograph(path: Path, index: int = 0) -> Path:
    """A 36-megapixel photograph at ``path`` (JPEG, quality 90): demo photograph number ``index`` (sorted by name)
    upscaled to ``BIG_SHAPE``, written unless it is there already."""
    from dl_tools.arrays.resize import resize_image
    from dl_tools.io.images import read_image, write_image

    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        source = sorted((REPO / "demo_data" / "jpg").glob("*.jpg"))[index]
        write_image(path, resize_image(read_image(source), BIG_SHAPE), quality=90)
    return path


def ensure_local_module(size: int, cwd: Path) -> None:
    """Build the local ImageNet MobileNetV2 module at ``size`` px under models/ unless it is there already."""
    if not (REPO / "models" / f"mobilenet_v2_100_{size}" / "saved_model.pb").is_file():
        run_script("train_dcnn_tfhub/make_local_module.py", "--size", size, cwd=cwd)


def demo_split(work: Path, folders: tuple[str, ...] = ("jpg", "gt")) -> Path:
    """Copy ``folders`` of demo_data into ``work``/demo_data and run the tutorial's step 1 there as the README does
    (split ``-p 0.5 --seed 0``, then cp_mat.py); return that demo_data folder."""
    demo = work / "demo_data"
    demo.mkdir(parents=True)
    for folder in folders:
        shutil.copytree(REPO / "demo_data" / folder, demo / folder)
    run_script("create_library/images_split_train_test.py", "-p", "0.5", "--input", "demo_data/jpg", "--seed", "0",
               cwd=work)
    run_script("create_library/cp_mat.py", cwd=work)
    return demo


def machine() -> str:
    """The machine in a few words, for the head of a report: architecture, CPU model, cores, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{platform.machine()} {cpu}, {os.cpu_count()} cores, no GPU, Python {platform.python_version()}"


def write_report(name: str, text: str) -> Path:
    """Print ``text`` and write it to bench_out/<name>.md; return that path."""
    print(text)
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.md"
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    return path
