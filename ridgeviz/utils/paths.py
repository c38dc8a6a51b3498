"""Where the project's shipped files live (one definition; the package sits in the project root)."""

from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the ridgeviz package folder
PROJECT_ROOT = PACKAGE_ROOT.parent
ASSETS = PROJECT_ROOT / "assets"  # small checkpoints and precomputed views the default pages load
