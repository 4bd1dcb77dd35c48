"""``python -m vaekit``: the same as the ``vaekit`` command."""

from vaekit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
