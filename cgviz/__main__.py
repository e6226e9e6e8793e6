"""``python -m cgviz``: the command line."""

from cgviz.cli import main

raise SystemExit(main())
