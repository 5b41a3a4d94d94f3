"""``python -m dl_tools COMMAND ...``: the same as the ``dl-tools`` console command."""

from dl_tools.cli.main import main

if __name__ == "__main__":  # guard: Dask's worker processes (--workers) re-import this file
    raise SystemExit(main())
