import sys

from stridesense.cli import main

sys.exit(main())
