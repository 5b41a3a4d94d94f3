"""Tutorial step 1: see `python create_library/images_split_train_test.py --help`."""

from dl_tools.cli.images_split_train_test import main

raise SystemExit(main())
