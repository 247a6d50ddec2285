"""`python -m paymock.cli`: the `paymock` command, as the console script runs it."""

import sys

from .main import main

sys.exit(main())
