"""Labelling from brush strokes: the annotation session (no display), its engine, and its views."""
