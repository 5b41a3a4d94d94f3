"""``python -m dl_tools COMMAND ...``: the same as the ``dl-tools`` console command."""

from dl_tools.cli.main import main

raise SystemExit(main())
