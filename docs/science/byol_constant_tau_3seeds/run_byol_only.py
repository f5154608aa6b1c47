"""One-off: the science preset with only its BYOL runs (3 seeds), after the BYOL recipe change.

Usage: python run_byol_only.py OUT_DIR (bgaug installed)."""

import dataclasses
import sys
from pathlib import Path

from bgaug.launch import demo

if __name__ == "__main__":
    science = demo.PRESETS["science"]
    demo.PRESETS["science_byol"] = dataclasses.replace(
        science, runs=(("byol", "none"), ("byol", "bg_random"))
    )
    demo.run_demo(Path(sys.argv[1]), "science_byol")
