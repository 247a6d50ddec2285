"""Credentials in URLs masked before a message quotes them: messages are shown and logged."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"://[^/?#@\s'\"]*@")


def redact(text: str) -> str:
    """`scheme://user:password@host` -> `scheme://***@host`, wherever it appears in `text`."""
    return _USERINFO.sub("://***@", text)
