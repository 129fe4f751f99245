import sys

from intelli_assets.cli import main

sys.exit(main())
