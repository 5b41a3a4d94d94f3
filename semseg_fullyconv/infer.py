"""Method 2 step 8c: see `python semseg_fullyconv/infer.py --help`."""

from dl_tools.cli.fcn_infer import main

raise SystemExit(main())
