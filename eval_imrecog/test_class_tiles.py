"""Tutorial step 5: see `python eval_imrecog/test_class_tiles.py --help`."""

from dl_tools.cli.test_class_tiles import main

raise SystemExit(main())
