"""``python -m babelshard.cli``: the same as the ``babelshard`` command."""
import sys

from babelshard.cli import main

sys.exit(main())
