"""Credentials in URLs masked before a message quotes them: messages are shown and logged."""

from __future__ import annotations

import re

# greedy up to the last `@` before the path, a space or a quote: a password may hold an `@` itself
_USERINFO = re.compile(r"://[^/?#\s'\"]*@")


def redact(text: str) -> str:
    """`scheme://user:password@host` -> `scheme://***@host`, wherever it appears in `text`."""
    return _USERINFO.sub("://***@", text)


def redact_url(url: str) -> str:
    """One URL as a user gave it: everything between `://` and its last `@` masked, since a password
    typed raw may hold `/`, `?` or `#` too (an `@` in its path is masked along with it, harmlessly)."""
    scheme, separator, rest = url.partition("://")
    if not separator or "@" not in rest:
        return url
    return f"{scheme}://***@{rest.rpartition('@')[2]}"
