"""What a receiver's answer may cost: every sender reads at most this much of it.

A webhook needs only the status (and Retry-After) of the answer, so anything larger than a plain
answer ends the attempt as a failure instead of being buffered: an endless header line, endless
`100 Continue`s or a body that never ends cost one attempt's timeout and a bounded number of bytes.
"""

from __future__ import annotations

MAX_BODY = 1 << 20  # body bytes read (and discarded); past it the connection is closed, the status stands
MAX_HEAD_BYTES = 64 * 1024  # status lines and header lines of one answer, interim responses included
MAX_HEADER_LINE = 8190  # one header's name and value (a common server default: aiohttp's, Apache's)
MAX_HEADERS = 128  # headers in one response (aiohttp's default too)
MAX_INTERIM = 8  # 1xx responses before the final one; a receiver has no reason to send more than one
