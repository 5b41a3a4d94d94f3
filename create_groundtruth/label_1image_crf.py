"""Tutorial step 2: see `python create_groundtruth/label_1image_crf.py --help`."""

from dl_tools.cli.label_1image_crf import main

if __name__ == "__main__":  # guard: Dask's worker processes (--workers) re-import this file
    raise SystemExit(main())
