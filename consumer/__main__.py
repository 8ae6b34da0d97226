"""Lets ``python -m consumer`` run the same command line as ``converge-pinterest``."""

from consumer.cli import main

raise SystemExit(main())
