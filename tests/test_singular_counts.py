"""Messages that count things say '1 label file', never '1 label files' (dl_tools.terminal.count)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import savemat

from dl_tools.errors import InputError
from dl_tools.io.mat import read_label_mat
from dl_tools.workflows.retile import RetileParams, retile


def test_a_label_file_naming_one_class(tmp_path):
    path = tmp_path / "one_mres.mat"
    savemat(path, {"class": np.array([[0, 1]], np.uint8), "labels": ["water"]})
    with pytest.raises(InputError, match="'class' holds value 1 but only 1 class name is given in 'labels'$"):
        read_label_mat(path)


def test_retile_of_one_label_file_without_its_image(tmp_path):
    savemat(tmp_path / "a_mres.mat", {"class": np.zeros((8, 10), np.uint8), "labels": ["water", "sand"]})
    with pytest.raises(InputError, match=f"^--input: the only label file in {tmp_path} has no image of the same "
                                         "name$"):
        retile(tmp_path, RetileParams())
