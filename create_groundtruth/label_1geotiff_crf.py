"""Tutorial step 2: see `python create_groundtruth/label_1geotiff_crf.py --help`."""

from dl_tools.cli.label_1geotiff_crf import main

raise SystemExit(main())
