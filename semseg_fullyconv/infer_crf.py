"""Method 2 step 8d: see `python semseg_fullyconv/infer_crf.py --help`."""

from dl_tools.cli.fcn_infer_crf import main

if __name__ == "__main__":  # guard: Dask's worker processes (--workers) re-import this file
    raise SystemExit(main())
