"""Synthetic per-photograph change counts (truth x network x CRF, ``workflows.crf_choice.change_counts``) with a
known answer, for the tests of how the changes of class are chosen."""

from __future__ import annotations

import numpy as np


def one_photo_carries_a_change() -> np.ndarray:
    """(7, 3, 3, 3) int64 counts of 7 photographs, 100 right pixels of each class. The change 1 -> 2 fixes 10
    pixels of class 2 on every photo; the change 0 -> 1 fixes 200 pixels of class 1 on photo 0 only and spoils 15
    of class 0 on each of the others: pooled it helps, photo by photo it hurts on six of seven."""
    photos = np.zeros((7, 3, 3, 3), np.int64)
    for k in range(3):
        photos[:, k, k, k] = 100
    photos[:, 2, 1, 2] = 10
    photos[0, 1, 0, 1] = 200
    photos[1:, 0, 0, 1] = 15
    return photos


def training_photos_against_the_first_change(n: int = 20) -> np.ndarray:
    """(n, 3, 3, 3) int64 counts of n training photographs, 100 right pixels of each class, on which the change
    0 -> 1 that photo 0 of ``one_photo_carries_a_change`` carries spoils 30 pixels of class 0 each and the change
    1 -> 2 fixes 10 pixels of class 2, as on the validation photographs."""
    photos = np.zeros((n, 3, 3, 3), np.int64)
    for k in range(3):
        photos[:, k, k, k] = 100
    photos[:, 0, 0, 1] = 30
    photos[:, 2, 1, 2] = 10
    return photos
