from spendtap.cli.main import main

raise SystemExit(main())
