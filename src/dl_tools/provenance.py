"""``python -m dl_tools.provenance FILE``: print how an output was made (the same as ``dl-tools provenance``).

The record itself is built by ``dl_tools.provenance_record`` and read back by ``dl_tools.io.provenance``.
"""

from dl_tools.cli.provenance import main

if __name__ == "__main__":
    raise SystemExit(main())
