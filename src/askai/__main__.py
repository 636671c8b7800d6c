from askai.cli import main

raise SystemExit(main())
