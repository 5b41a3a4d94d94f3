"""Keras training of the FCN (``models.fcn``): the epoch loop with its callbacks, and resuming from a checkpoint.

What happens after each epoch (saving checkpoints, history, curves) is the caller's: ``fit`` calls
``on_epoch_end(epoch, logs, model)`` and knows nothing about run folders.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def load_checkpoint(path: str | os.PathLike, learning_rate: float):
    """The whole model saved by Keras at ``path`` (a ``.keras`` file, with its optimizer state), its optimizer's
    learning rate set to ``learning_rate``, ready to train on."""
    import keras

    model = keras.models.load_model(path)
    model.optimizer.learning_rate.assign(learning_rate)
    return model


def _epoch_callback(on_epoch_end: Callable[[int, dict, object], None]):
    """A Keras callback calling ``on_epoch_end(epoch, logs, model)`` after every epoch; ``logs`` (loss and metric
    name -> float) gains ``seconds``, the epoch's wall time."""
    import keras

    class EpochEnd(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            on_epoch_end(epoch, dict(logs or {}, seconds=time.perf_counter() - self.started), self.model)

    return EpochEnd()


def fit(model, train_data, val_data, steps_per_epoch: int, epochs: int, initial_epoch: int,
        on_epoch_end: Callable[[int, dict, object], None], tensorboard_dir: str | os.PathLike,
        early_stopping: int, monitor: str) -> None:
    """Train the compiled ``model`` from epoch ``initial_epoch`` to ``epochs`` on the tf.data datasets of
    ``models.fcn`` (``train_data`` endless: ``steps_per_epoch`` batches make an epoch).

    on_epoch_end(epoch, logs, model): called after every epoch (epoch 0-based; logs: loss and metrics, train and
    ``val_``, and ``seconds``). TensorBoard logs go to ``tensorboard_dir`` when the package tensorboard is
    installed. early_stopping: stop after this many epochs without a higher ``monitor`` (a logs key); 0 = never.
    """
    import keras

    callbacks = [_epoch_callback(on_epoch_end)]
    if importlib.util.find_spec("tensorboard") is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard_dir), write_graph=False, profile_batch=0))
    else:
        log.warning("no TensorBoard logs: the package tensorboard is not installed (pip install tensorboard)")
    if early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=early_stopping))
    model.fit(train_data, steps_per_epoch=steps_per_epoch, epochs=epochs, initial_epoch=initial_epoch,
              validation_data=val_data, callbacks=callbacks, verbose=0, shuffle=False)
