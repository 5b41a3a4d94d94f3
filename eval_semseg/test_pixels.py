"""Tutorial step 7 (pixel accuracy): see `python eval_semseg/test_pixels.py --help`."""

from dl_tools.cli.test_pixels import main

raise SystemExit(main())
