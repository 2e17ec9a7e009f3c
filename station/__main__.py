"""``python -m panelgate.station ARGS`` is ``panelgate ARGS``, with the station's commands."""

import sys

from .cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
