import sys

from flows.cli import app

sys.exit(app())
