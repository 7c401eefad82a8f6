import sys

from sessionlab.cli import main

sys.exit(main())
