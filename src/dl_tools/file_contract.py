"""The file contract of the steps: file extensions, no-data values and output names that the steps exchange.

Pure constants and name functions (no file is touched here), so every layer can take them from one place.
"""

from __future__ import annotations

#: File extensions (lower case) of the images DL tools reads; the case of a file's extension does not matter.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
TIFF_EXTENSIONS = (".tif", ".tiff")

#: Value of a pixel without data in a label GeoTIFF, a label-ids PNG and the FCN's training labels.
LABEL_NODATA = 255
