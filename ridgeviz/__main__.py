"""``python -m ridgeviz``: the command line (see ``ridgeviz.cli``)."""

from .cli import main

raise SystemExit(main())
