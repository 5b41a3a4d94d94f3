"""Tutorial step 3: see `python create_library/retile.py --help`."""

from dl_tools.cli.retile import main

if __name__ == "__main__":  # guard: the worker processes re-import this file
    raise SystemExit(main())
