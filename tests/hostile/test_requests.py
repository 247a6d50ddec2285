"""Hostile requests against a real `paymock serve` (issue 14, rows 1, 4, 5, 6, 7, 9): each is refused
with a problem+json naming the cap, while /healthz keeps answering and the server's memory stays bounded.

Bounds are loose on purpose (the machine may be busy): /healthz within HEALTHZ_BOUND_S while the attack
runs (on 604d23d these attacks held it 7.8 to 9.5 s), RSS under RSS_BOUND_MB (it idles near 70 MB; a
150 MB header line took it 210 MB higher). bench/hostile_requests.py records the actual figures.
"""

from __future__ import annotations

import concurrent.futures
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from connexion.exceptions import ProblemException

from paymock.api.request_limits import check_head, relative
from paymock.domain.limits import (
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    MAX_LISTED,
    MAX_QUERY_PARAMETERS,
    MAX_RUNTIME_SCENARIOS,
    MAX_URL_BYTES,
)
from paymock.resources import load_spec
from paymock.testing.embedded import EmbeddedServer
from paymock.testing.process import ServerProcess
from tests.conftest import assert_problem, settings
from tests.hostile.request_helpers import TOKEN, Probe, raw_request

AUTH = {"Authorization": f"Bearer {TOKEN}"}
HEALTHZ_BOUND_S = 2.0
RSS_BOUND_MB = 300.0
# A reply to any of these attacks comes in well under this; on 604d23d some took minutes.
CLIENT_TIMEOUT_S = 60.0


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers=AUTH, timeout=CLIENT_TIMEOUT_S) as client:
        yield client
        client.post("/mock/v1/reset")


def probe(server: ServerProcess) -> Probe:
    return Probe(server.base_url, server.process.pid)


def assert_held(watch: Probe) -> None:
    assert not watch.failures, watch.failures
    assert watch.worst < HEALTHZ_BOUND_S, f"/healthz took {watch.worst:.2f} s during the attack"
    assert watch.max_rss_mb < RSS_BOUND_MB, f"the server's RSS reached {watch.max_rss_mb:.0f} MB"


def scenario_put(api: httpx.Client, name: str, body: dict[str, Any], dry_run: bool = False) -> httpx.Response:
    return api.put(f"/mock/v1/scenarios/{name}", params={"dry_run": "true"} if dry_run else None, json=body)


# row 1
@pytest.mark.parametrize(
    "operations",
    [[{"a": i} for i in range(3000)], [i if i % 2 else str(i) for i in range(5000)]],
    ids=["3000 objects", "5000 mixed values"],
)
def test_a_long_unique_items_array_is_refused_by_its_length_without_blocking(
    server: ServerProcess, api: httpx.Client, operations: list[Any]
) -> None:
    body = {"description": "x", "api": {"operations": operations}}
    with probe(server) as watch:
        for _ in range(2):
            problem = assert_problem(scenario_put(api, "u", body, dry_run=True), 400)
    assert_held(watch)
    assert problem["errors"] == [f"api.operations: an array of {len(operations):,} items; at most 3 allowed"]
    assert api.get("/mock/v1/scenarios/u").status_code == 404


# row 4
def test_a_150_mb_header_line_is_cut_off_early_with_a_431_problem(server: ServerProcess) -> None:
    with probe(server) as watch:
        answer = raw_request(
            server.port,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ",
            filler=b"a" * (1 << 20),
            filler_bytes=150 << 20,
            timeout=CLIENT_TIMEOUT_S,
        )
    assert_held(watch)
    problem = assert_problem(answer, 431)
    assert f"{MAX_HEAD_BYTES:,} bytes" in problem["detail"]


def test_too_many_headers_and_a_long_header_line_are_431_problems(server: ServerProcess) -> None:
    many = b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADERS + 1))
    problem = assert_problem(raw_request(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"), 431)
    assert f"at most {MAX_HEADERS}" in problem["detail"]
    line = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 10_000 + b"\r\n\r\n"
    problem = assert_problem(raw_request(server.port, line), 431)
    assert "'x-long'" in problem["detail"]


# row 5
def test_thousands_of_query_parameters_answer_a_short_400_naming_the_first_few(api: httpx.Client) -> None:
    count = 1500  # in a URL under the URL cap
    r = api.get("/api/v2/pending-payments?" + "&".join(f"p{i}" for i in range(count)))
    problem = assert_problem(r, 400)
    assert f"at most {MAX_QUERY_PARAMETERS}" in problem["detail"]
    assert f"'p{MAX_LISTED - 1}', and {count - MAX_LISTED:,} more" in problem["detail"]
    assert f"'p{MAX_LISTED}'" not in problem["detail"]
    assert len(r.content) < 1000


def test_four_parallel_60_kb_query_strings_do_not_hold_healthz(server: ServerProcess) -> None:
    path = "/api/v2/pending-payments?" + "&".join(str(i) for i in range(12_000))
    assert len(path) > MAX_URL_BYTES

    def attack(_: int) -> httpx.Response:
        return httpx.get(server.base_url + path, headers=AUTH, timeout=CLIENT_TIMEOUT_S)

    with probe(server) as watch, concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(attack, range(4)))
    assert_held(watch)
    for r in answers:
        assert_problem(r, 414)


# row 6
def test_200000_invalid_retry_delays_answer_one_short_error(server: ServerProcess, api: httpx.Client) -> None:
    body = {"description": "x", "webhook": {"retry_schedule_ms": [-1] * 200_000}}
    with probe(server) as watch:
        r = scenario_put(api, "u", body)
    assert_held(watch)
    problem = assert_problem(r, 400)
    assert problem["errors"] == ["webhook.retry_schedule_ms: an array of 200,000 items; at most 50 allowed"]
    assert len(r.content) < 1000
    assert api.get("/mock/v1/scenarios/u").status_code == 404


def test_many_errors_are_listed_as_the_first_few_and_a_count(api: httpx.Client) -> None:
    # 50 delays (the most), each wrong: one error per item, listed up to MAX_LISTED
    r = scenario_put(api, "u", {"description": "x", "webhook": {"retry_schedule_ms": ["soon"] * 50}})
    problem = assert_problem(r, 400)
    assert len(problem["errors"]) == MAX_LISTED
    assert problem["errors_total"] == 50
    assert "(50 errors" in problem["detail"]


# row 7
def test_run_time_scenarios_are_capped_and_listings_stay_bounded(server: ServerProcess, api: httpx.Client) -> None:
    known_before = len(api.get("/mock/v1/scenarios").json()["scenarios"])
    with probe(server) as watch:
        for i in range(MAX_RUNTIME_SCENARIOS):
            assert scenario_put(api, f"s{i}", {"description": "x"}).status_code == 201
        over = scenario_put(api, "one-too-many", {"description": "x"})
        dry = scenario_put(api, "one-too-many", {"description": "x"}, dry_run=True)
    assert_held(watch)
    problem = assert_problem(over, 409)
    assert f"({MAX_RUNTIME_SCENARIOS:,})" in problem["detail"]
    assert_problem(dry, 409)
    assert api.get("/mock/v1/scenarios/one-too-many").status_code == 404
    assert scenario_put(api, "s0", {"description": "replaced"}).status_code == 200  # replacing is fine

    listing = api.get("/mock/v1/scenarios")
    assert len(listing.json()["scenarios"]) == known_before + MAX_RUNTIME_SCENARIOS
    assert len(listing.content) < 1 << 20

    body = {
        "version": "v2",
        "tx_id": "t1",
        "order_id": 1,
        "user_id": 1,
        "amount": 1,
        "callback_url": "http://127.0.0.1:9/x",
    }
    r = api.post("/api/v2/payments", headers={"X-Mock-Scenario": "nope"}, json=body)
    problem = assert_problem(r, 404)
    assert len(problem["known_scenarios"]) == MAX_LISTED
    assert problem["known_scenarios_total"] == known_before + MAX_RUNTIME_SCENARIOS
    assert len(r.content) < 2000


# row 9
@pytest.mark.parametrize(
    "request_bytes",
    [b"NOT HTTP AT ALL\r\n\r\n", b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"],
    ids=["request line", "header"],
)
def test_a_malformed_request_gets_a_problem_not_uvicorns_text(server: ServerProcess, request_bytes: bytes) -> None:
    problem = assert_problem(raw_request(server.port, request_bytes), 400)
    assert "not HTTP/1.1" in problem["detail"]


def test_a_request_line_over_64_kb_is_a_414_problem(server: ServerProcess) -> None:
    answer = raw_request(server.port, b"GET /healthz?" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_problem(answer, 414)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/mock/v1/health/", "/mock/v1/health"),
        ("/mock/v1/scenarios/?x=1", "/mock/v1/scenarios?x=1"),
        ("/api/v2", "/api/v2/"),
    ],
)
def test_a_redirect_never_names_the_host_the_client_sent(server: ServerProcess, path: str, expected: str) -> None:
    answer = raw_request(server.port, f"GET {path} HTTP/1.1\r\nHost: evil.example\r\n\r\n".encode())
    assert answer.status_code == 307, answer
    assert answer.headers["location"] == expected  # relative: no scheme, no host, no `//` (another host)


def test_a_location_is_made_relative_and_never_points_at_another_host() -> None:
    assert relative(b"http://evil.example/mock/v1/health?x=1") == b"/mock/v1/health?x=1"
    assert relative(b"http://evil.example//evil.example/x") == b"/evil.example/x"  # not `//evil.example/x`
    assert relative(b"/api/v2/docs/") == b"/api/v2/docs/"


def test_the_embedded_server_has_the_same_caps() -> None:
    with EmbeddedServer(settings()) as embedded:
        answer = raw_request(
            embedded.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ", filler=b"a" * 65536, filler_bytes=16 << 20
        )
        assert_problem(answer, 431)
        assert_problem(raw_request(embedded.port, b"NOT HTTP AT ALL\r\n\r\n"), 400)


def _arrays_without_max_items(node: Any, components: dict[str, Any], where: str, seen: set[str]) -> list[str]:
    if isinstance(node, list):
        return [m for i, item in enumerate(node) for m in _arrays_without_max_items(item, components, where, seen)]
    if not isinstance(node, dict):
        return []
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[1]
        if name in seen:
            return []
        return _arrays_without_max_items(components[name], components, f"{where} > {name}", {*seen, name})
    missing = [where] if node.get("type") == "array" and "maxItems" not in node else []
    for key, value in node.items():
        if key not in ("example", "default", "enum"):
            missing += _arrays_without_max_items(value, components, f"{where}.{key}", seen)
    return missing


@pytest.mark.parametrize("spec_name", ["provider.yaml", "control.yaml"])
def test_every_array_a_client_sends_has_max_items(spec_name: str) -> None:
    spec = load_spec(spec_name)
    schemas = spec["components"]["schemas"]
    missing = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            for media in operation.get("requestBody", {}).get("content", {}).values():
                missing += _arrays_without_max_items(media.get("schema", {}), schemas, f"{method} {path}", set())
            for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
                missing += _arrays_without_max_items(parameter.get("schema", {}), schemas, f"{method} {path}", set())
    assert not missing, missing


def _scope(headers: list[tuple[bytes, bytes]], query: bytes = b"") -> dict[str, Any]:
    return {"type": "http", "path": "/healthz", "raw_path": b"/healthz", "query_string": query, "headers": headers}


def test_the_app_checks_the_head_itself_for_servers_without_the_protocol_class() -> None:
    # what `uvicorn paymock.app:app` without `--http` (or another ASGI server) hands the app
    line = [(b"x-a", b"v" * 400)]
    with pytest.raises(ProblemException) as refused:
        check_head(_scope(line * 90))  # 90 headers of ~400 bytes: each fine, together over MAX_HEAD_BYTES
    assert refused.value.status_code == 431
    assert f"at most {MAX_HEAD_BYTES:,}" in refused.value.detail
    with pytest.raises(ProblemException) as refused:
        check_head(_scope([], b"&".join(b"p%d=1" % i for i in range(MAX_QUERY_PARAMETERS + 1))))
    assert refused.value.status_code == 400
    check_head(_scope(line * 10, b"&".join(b"p%d=1" % i for i in range(MAX_QUERY_PARAMETERS))))  # at the caps: fine


def test_requests_pipelined_without_reading_the_answers_cost_bounded_memory(server: ServerProcess) -> None:
    # uvicorn's httptools protocol parsed and queued every pipelined request it got: 6.8 MB of
    # `GET /healthz` on one connection, answers never read, took the server from 84 to 562 MB
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    data = request * 200_000
    with probe(server) as watch, socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.setblocking(False)
        sent, deadline = 0, time.monotonic() + 20
        while sent < len(data) and time.monotonic() < deadline:
            try:
                sent += sock.send(data[sent : sent + 65536])
            except BlockingIOError:
                time.sleep(0.005)
            except OSError:  # closed by the server: what a cap does here
                break
        time.sleep(1.0)  # the server works through what it took
    assert_held(watch)
    # a client that pipelines a few requests (and reads) still gets every answer, in order
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request * 5 + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 6, received[:500]
