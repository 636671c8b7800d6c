"""Launch the askai chat page: `python ui/app.py [--host H] [--port P]` (same as `askai ui`)."""

import sys

from askai.cli import main

raise SystemExit(main(["ui", *sys.argv[1:]]))
