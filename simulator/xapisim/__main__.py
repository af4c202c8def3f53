# Copyright: Contributors to the xenserver.provisioning collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python -m xapisim``: the ``xapisim`` console script, for callers that know only the interpreter."""
import sys

from .cli import main

sys.exit(main())
