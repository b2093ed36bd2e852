"""`python -m mcp_server.cli …`, the same as the `aura` console script."""

import sys

from mcp_server.cli.app import main

sys.exit(main())
