"""``python -m bgaug.core``: see ``bgaug.core.cli``."""

from bgaug.core.cli import main

raise SystemExit(main())
