"""Tutorial step 4 (offline): see `python train_dcnn_tfhub/make_local_module.py --help`."""

from dl_tools.cli.make_local_module import main

raise SystemExit(main())
