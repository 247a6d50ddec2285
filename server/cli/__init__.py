"""The `paymock` command line and its tools: serve, console, listen, trigger, all (see `main`)."""
