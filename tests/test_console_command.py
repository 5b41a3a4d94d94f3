"""The ``dl-tools`` console command (and ``python -m dl_tools``): every tutorial script as a subcommand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import REPO, run_script
from test_scripts import SCRIPTS

from dl_tools.cli.main import COMMANDS


def dl_tools(*args, cwd=None):
    """Run ``python -m dl_tools ARGS`` (the console command's own code) -> CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "dl_tools", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_every_tutorial_script_has_a_command_and_every_command_a_script():
    assert sorted(script for script, _ in COMMANDS.values()) == SCRIPTS
    for name, (script, module) in COMMANDS.items():
        assert name == Path(script).stem.replace("_", "-")
        assert f"from dl_tools.cli.{module} import main" in (REPO / script).read_text()


def test_the_console_command_is_installed_beside_python():
    command = Path(sys.executable).parent / "dl-tools"
    assert command.is_file(), "pip install . (or -e .) installs the dl-tools command"
    proc = subprocess.run([str(command), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "retile" in proc.stdout and "semseg_crf/semseg_cnn_crf.py" in proc.stdout


def test_help_of_a_command_names_the_command():
    proc = dl_tools("retile", "--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: dl-tools retile ")


def test_unknown_command_and_bad_flag_are_one_line_errors():
    proc = dl_tools("retiles")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "no command 'retiles'" in proc.stderr
    proc = dl_tools("retile", "-t", "0")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: argument -t/--tile: must be a positive integer, got 0 " \
                                  "(see dl-tools retile --help)"


def test_a_command_does_what_its_script_does(tmp_path):
    from dl_tools.io.images import write_image

    results = []
    for way in ("script", "command"):
        jpg = tmp_path / way / "jpg"
        jpg.mkdir(parents=True)
        for k in range(6):
            write_image(jpg / f"img_{k}.png", np.full((4, 6, 3), 10 * k, np.uint8))
        args = ["-p", "0.5", "--input", jpg, "--seed", "3"]
        proc = (run_script("create_library/images_split_train_test.py", *args) if way == "script"
                else dl_tools("images_split_train_test.py", *args))  # the script's own name works too
        assert proc.returncode == 0, proc.stderr
        results.append(sorted(p.name for p in (tmp_path / way / "train").iterdir()))
    assert results[0] == results[1] and len(results[0]) == 3
