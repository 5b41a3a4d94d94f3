"""Tutorial step 3: see `python create_library/retile.py --help`."""

from dl_tools.cli.retile import main

raise SystemExit(main())
