"""``python -m lstmcore <command>``: see :mod:`lstmcore.cli`."""
import sys

from .cli import main

sys.exit(main())
