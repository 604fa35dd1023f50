"""``python -m polysource``: the command line."""

from polysource.cli import main

main()
