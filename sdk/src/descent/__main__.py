"""`python -m descent` runs the CLI."""

from ._cli import main

raise SystemExit(main())
