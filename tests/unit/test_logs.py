"""JSON log lines: their timestamp is the API's format (domain.clock.iso)."""

from __future__ import annotations

import json
import logging
import re

from paymock.domain.clock import iso
from paymock.logs import JsonFormatter


def test_json_line_timestamp_is_iso_utc_with_milliseconds():
    record = logging.LogRecord("paymock", logging.INFO, __file__, 1, "hello %s", ("there",), None)
    record.created = 1_700_000_000.123456
    line = json.loads(JsonFormatter().format(record))
    assert line["ts"] == iso(record.created) == "2023-11-14T22:13:20.123Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
    assert (line["level"], line["logger"], line["msg"]) == ("info", "paymock", "hello there")
