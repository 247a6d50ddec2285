"""What a message may quote of what a client sent: values cut short, URL credentials masked.
Messages are shown to clients and logged, and fuzzed values can be megabytes."""

from __future__ import annotations

import re
import reprlib
from typing import Any

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlist = _short.maxdict = _short.maxtuple = 4
_short.maxlevel = 2

# greedy up to the last `@` before the path, a space or a quote: a password may hold an `@` itself
_USERINFO = re.compile(r"://[^/?#\s'\"]*@")


def short(value: Any) -> str:
    """A repr cut to ~60 characters."""
    return _short.repr(value)


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
