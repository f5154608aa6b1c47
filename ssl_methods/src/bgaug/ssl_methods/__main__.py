"""``python -m bgaug.ssl_methods``: see ``bgaug.ssl_methods.cli``."""

from bgaug.ssl_methods.cli import main

raise SystemExit(main())
