"""TensorBoard scalars: one event-file folder per series (``tensorboard --logdir RUN`` shows them side by side)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path


class ScalarWriters:
    """Event files for scalar series under ``run_dir/<series>`` (e.g. ``train`` and ``validation``).

    The folders are created by TensorFlow when first written. Close when done (or use as a context manager).
    """

    def __init__(self, run_dir: str | os.PathLike, series: Sequence[str]):
        import tensorflow as tf

        self._writers = {name: tf.summary.create_file_writer(str(Path(run_dir) / name)) for name in series}

    def write(self, series: str, step: int, scalars: Mapping[str, float]) -> None:
        """Record each ``name: value`` of ``scalars`` at ``step`` (an int, e.g. the training step) in ``series``."""
        import tensorflow as tf

        with self._writers[series].as_default(step=step):
            for name, value in scalars.items():
                tf.summary.scalar(name, value)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()

    def __enter__(self) -> ScalarWriters:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
