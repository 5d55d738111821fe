"""``python -m tests.hostile --report``: see ``run.main``."""

import sys

from tests.hostile.run import main

sys.exit(main(sys.argv[1:]))
