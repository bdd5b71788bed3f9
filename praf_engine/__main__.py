"""`python -m praf_engine` is `praf-engine`."""

from praf_engine.cli import main

raise SystemExit(main())
