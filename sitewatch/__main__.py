"""``python -m sitewatch``: the same as the ``sitewatch`` command."""

import sys

from sitewatch.cli import main

sys.exit(main())
