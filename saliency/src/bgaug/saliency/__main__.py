"""``python -m bgaug.saliency``: see ``bgaug.saliency.cli``."""

from bgaug.saliency.cli import main

raise SystemExit(main())
