"""What tests import: the client, a webhook receiver, a server process, an embedded server, the pytest plugin.

Each lives in its own module; the package itself imports nothing, so loading the pytest plugin stays cheap.
"""
