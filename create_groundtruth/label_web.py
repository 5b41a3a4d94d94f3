"""Tutorial step 2 in a web browser: see `python create_groundtruth/label_web.py --help`."""

from dl_tools.cli.label_web import main

raise SystemExit(main())
