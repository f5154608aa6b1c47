import sys

from bgaug.evals.cli import main

sys.exit(main())
