"""``python -m clinfer.gateway``: the same as the ``clinfer-gateway`` command."""

import sys

from .serve import main

sys.exit(main())
