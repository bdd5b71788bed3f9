"""`python -m praf_tui` = `praf-tui`."""

from praf_tui.app import main

raise SystemExit(main())
