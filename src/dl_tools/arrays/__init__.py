"""Pure numpy functions on image arrays: colour conversion, resizing, tiling."""
