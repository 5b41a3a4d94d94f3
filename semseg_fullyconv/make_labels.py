"""Method 2 step 8a: see `python semseg_fullyconv/make_labels.py --help`."""

from dl_tools.cli.make_labels import main

raise SystemExit(main())
