"""Segmentation on arrays: the dense CRF, the per-image pixel classifier, the hybrid tile classifier + CRF."""
