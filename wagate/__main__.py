"""`python -m wagate` is the `wagate` command."""

from wagate.cli import main

raise SystemExit(main())
