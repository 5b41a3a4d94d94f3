"""Method 2 step 8d: see `python semseg_fullyconv/infer_crf.py --help`."""

from dl_tools.cli.fcn_infer_crf import main

raise SystemExit(main())
