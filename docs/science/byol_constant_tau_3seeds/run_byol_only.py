"""One-off: the science preset's BYOL runs only (3 seeds), for the BYOL recipe change."""
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
