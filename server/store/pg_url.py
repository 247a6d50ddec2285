"""PostgreSQL store URLs: recognised, and shown with the password masked (no psycopg needed here, so
settings and the CLI can use it whether or not the postgres extra is installed)."""

from __future__ import annotations

import re
from urllib.parse import unquote

SCHEMES = ("postgresql://", "postgres://")  # the two libpq accepts
_PASSWORD_PARAM = re.compile(r"([?&]password=)([^&]*)", re.IGNORECASE)  # libpq's keyword, as a URL parameter
MISSING_DRIVER = (
    "a postgresql:// store needs psycopg, which is not installed: install paymock with its postgres extra "
    "(pip install 'paymock[postgres]')"
)


def is_postgres(spec: str) -> bool:
    return spec.startswith(SCHEMES) and len(spec) > len("postgres://")


def _credentials(rest: str) -> tuple[int, int] | None:
    """Where the password is in a URL's text after `scheme://` (start, end), as libpq reads it: the
    credentials end at the last '@' before the first '/', so a password may hold '?' or '#' unencoded,
    which urllib would take for a query or a fragment (and find no password). Failing that, an '@' before
    the first '?' (a password holding '/': libpq then reads no credentials and fails, but it is shown)."""
    slash = rest.find("/")
    end = rest.rfind("@", 0, len(rest) if slash < 0 else slash)
    if end < 0:
        query = rest.find("?")
        end = rest.rfind("@", 0, len(rest) if query < 0 else query)
    colon = rest.find(":", 0, max(end, 0))
    return None if end < 0 or colon < 0 else (colon + 1, end)


def _split(url: str) -> tuple[str, str | None, str]:
    """(the URL up to its password, the password or None, the rest): a URL without one is all in the first."""
    scheme, sep, rest = url.partition("://")
    found = _credentials(rest) if sep else None
    if found is None:
        return url, None, ""
    start, end = found
    return scheme + sep + rest[:start], rest[start:end], rest[end:]


def masked(url: str) -> str:
    """The URL with its password (in the authority or a password= parameter) replaced by ***."""
    head, password, tail = _split(url)
    text = head if password is None else f"{head}***{tail}"
    return _PASSWORD_PARAM.sub(r"\1***", text)


def shown(spec: str) -> str:
    """A store spec as messages and logs may show it: any URL's password masked (a mistyped scheme too)."""
    return masked(spec) if "://" in spec else spec


def scrub(text: str, url: str) -> str:
    """An error text with the URL's password taken out, should a driver message ever quote it."""
    _head, password, _tail = _split(url)
    secrets = [password, *(m.group(2) for m in _PASSWORD_PARAM.finditer(url))]
    for secret in secrets:
        for form in {secret, unquote(secret)} if secret else ():
            text = text.replace(form, "***")
    return text
