"""`python -m praf_tui` = `praf-tui`."""

from praf_tui.start import main

raise SystemExit(main())
