"""``python -m ridgeviz assets [NAME ...]``: rebuild the files shipped under ``assets/`` (all groups by default)."""

from __future__ import annotations

from pathlib import Path


def cmd_assets(args) -> int:
    from ..views.assets import ASSET_GROUPS, build_assets

    if args.list:
        for name, asset in ASSET_GROUPS.items():
            print(f"{name:>6}: {asset.description} ({', '.join(asset.files)})")
        return 0
    from .core import check_out

    build_assets(args.names, check_out(args.out, folder=True))
    return 0


def register(sub) -> None:
    from ..utils.paths import ASSETS

    p = sub.add_parser("assets", help="rebuild the shipped checkpoints and precomputed views",
                       description="Rebuild the files under assets/ deterministically on the CPU.")
    p.add_argument("names", nargs="*", help="groups to rebuild (default: all; --list shows them)")
    p.add_argument("--out", type=Path, default=ASSETS, help="output folder (default: the project's assets/)")
    p.add_argument("--list", action="store_true", help="list the groups and their files")
    p.set_defaults(func=cmd_assets)
