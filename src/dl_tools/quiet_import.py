"""Import TensorFlow without its C++ start-up messages on the terminal.

TensorFlow 2.21 writes lines such as "All log messages before absl::InitializeLog() is called are written to
STDERR", "oneDNN custom operations are on" and "Could not find cuda drivers" straight to file descriptor 2 while it
loads, whatever ``TF_CPP_MIN_LOG_LEVEL`` says (they come before its logging is set up). They alarm users and mean
nothing: the CPU is used. ``silence_tensorflow_import`` makes the first ``import tensorflow`` of the process (however
it is reached: keras, tensorflow_hub, our own lazy imports) run with descriptor 2 pointed at the null device.
Python-level errors are unaffected: an import error is still raised, and printed once stderr is back.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Iterator

TENSORFLOW = "tensorflow"


@contextlib.contextmanager
def stderr_descriptor_silenced() -> Iterator[None]:
    """Point file descriptor 2 at the null device for the duration (C and C++ code included), then restore it."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _SilentLoader(importlib.abc.Loader):
    """Wraps TensorFlow's own loader: executes the package with stderr silenced, then gives the module its loader
    back."""

    def __init__(self, loader: importlib.abc.Loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__spec__.loader = module.__loader__ = self.loader
        with stderr_descriptor_silenced():
            self.loader.exec_module(module)


class _SilentTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` the normal way, once, and hands it a silent loader."""

    def find_spec(self, name, path=None, target=None):
        if name != TENSORFLOW:
            return None
        sys.meta_path.remove(self)  # once only; also keeps find_spec below from finding this finder again
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _SilentLoader(spec.loader)
        return spec


def silence_tensorflow_import() -> None:
    """Make the process's first ``import tensorflow`` silent on stderr (no effect once TensorFlow is loaded)."""
    if TENSORFLOW in sys.modules or any(isinstance(f, _SilentTensorFlowFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _SilentTensorFlowFinder())
