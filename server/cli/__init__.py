"""The `paymock` command line and its tools: serve, console, listen, trigger, audit, all (see `main`)."""
