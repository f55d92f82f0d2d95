"""Allow ``python -m framesentry``."""

from framesentry.cli.app import main

main()
