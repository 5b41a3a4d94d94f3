"""Tutorial step 4: see `python train_dcnn_tfhub/retrain.py --help`."""

from dl_tools.cli.retrain import main

raise SystemExit(main())
