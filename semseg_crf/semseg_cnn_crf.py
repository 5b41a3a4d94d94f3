"""Tutorial step 6 (hybrid segmentation): see `python semseg_crf/semseg_cnn_crf.py --help`."""

from dl_tools.cli.semseg_cnn_crf import main

raise SystemExit(main())
