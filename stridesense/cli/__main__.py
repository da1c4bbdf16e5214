"""``python -m stridesense.cli``: the same as the ``stridesense`` command."""

import sys

from stridesense.cli import main

sys.exit(main())
