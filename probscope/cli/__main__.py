"""`python -m probscope.cli ...`: the same as the `probscope` command."""

import sys

from probscope.cli import main

sys.exit(main())
