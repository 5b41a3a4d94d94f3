"""Tutorial step 1: see `python create_library/cp_mat.py --help`."""

from dl_tools.cli.cp_mat import main

raise SystemExit(main())
