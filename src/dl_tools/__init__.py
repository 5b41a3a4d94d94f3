"""DL tools: labelled maps of the Earth's surface from photographs, by deep transfer learning.

Importing this package loads no heavy module (tensorflow, pydensecrf, rasterio, cv2, matplotlib.pyplot);
those are imported inside the functions that need them.
"""

__version__ = "0.1.0"
