"""PostgreSQL store URLs: recognised, and shown with the password masked (no psycopg needed here, so
settings and the CLI can use it whether or not the postgres extra is installed)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SCHEMES = ("postgresql://", "postgres://")  # the two libpq accepts
MISSING_DRIVER = (
    "a postgresql:// store needs psycopg, which is not installed: install paymock with its postgres extra "
    "(pip install 'paymock[postgres]')"
)


def is_postgres(spec: str) -> bool:
    return spec.startswith(SCHEMES) and len(spec) > len("postgres://")


def masked(url: str) -> str:
    """The URL with its password (in the authority or a password= parameter) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a URL that does not parse>"
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    query = parts.query
    if "password" in query.lower():
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def shown(spec: str) -> str:
    """A store spec as messages and logs may show it: any URL's password masked (a mistyped scheme too)."""
    return masked(spec) if "://" in spec else spec


def scrub(text: str, url: str) -> str:
    """An error text with the URL's password taken out, should a driver message ever quote it."""
    try:
        parts = urlsplit(url)
        secrets = [parts.password] + [v for k, v in parse_qsl(parts.query) if k.lower() == "password"]
    except ValueError:
        return text
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
