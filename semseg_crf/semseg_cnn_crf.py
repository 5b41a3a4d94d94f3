"""Tutorial step 6 (hybrid segmentation): see `python semseg_crf/semseg_cnn_crf.py --help`."""

from dl_tools.cli.semseg_cnn_crf import main

if __name__ == "__main__":  # guard: Dask's worker processes (--workers) re-import this file
    raise SystemExit(main())
