"""Method 2 step 8c: see `python semseg_fullyconv/infer.py --help`."""

from dl_tools.cli.fcn_infer import main

if __name__ == "__main__":  # guard: Dask's worker processes (--workers) re-import this file
    raise SystemExit(main())
