import sys

from bgaug.augment.cli import main

sys.exit(main())
