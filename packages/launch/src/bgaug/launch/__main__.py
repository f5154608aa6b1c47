"""``python -m bgaug.launch``: the ``bgaug`` command (see ``bgaug.launch.cli``)."""

from bgaug.launch.cli import main

raise SystemExit(main())
