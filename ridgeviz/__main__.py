"""``python -m ridgeviz``: the command line."""

from .utils.threads import prepare_process

prepare_process()  # before anything imports torch

from .cli import main  # noqa: E402

raise SystemExit(main())
