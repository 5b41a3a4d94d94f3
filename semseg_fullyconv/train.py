"""Method 2 step 8b: see `python semseg_fullyconv/train.py --help`."""

from dl_tools.cli.fcn_train import main

raise SystemExit(main())
