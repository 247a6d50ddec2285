"""pytest plugin (registered via pytest11): paymock fixtures. Filled in by the sidecar work (issue 5)."""
