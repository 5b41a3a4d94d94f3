"""Command-line entry points: one module per tutorial step, each with ``build_parser()`` and ``main(argv) -> int``."""
