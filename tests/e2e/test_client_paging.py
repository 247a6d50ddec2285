"""PaymockClient against a real server process: paging through deliveries, and a URL nobody serves."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from paymock.testing.client import PaymockClient
from paymock.testing.process import ServerProcess, free_port
from paymock.testing.receiver import WebhookReceiver


@pytest.fixture
def client(live_server: ServerProcess) -> Iterator[PaymockClient]:
    with PaymockClient(live_server.base_url) as c:
        c.reset()
        yield c


def create_settled(client: PaymockClient, receiver: WebhookReceiver, *tx_ids: str) -> None:
    for tx_id in tx_ids:
        assert client.create_payment(tx_id, receiver.url()).status_code == 200
        client.wait_for_delivery(tx_id=tx_id, state="acknowledged")


def test_client_deliveries_page_has_total_and_next_offset(client: PaymockClient, receiver: WebhookReceiver) -> None:
    # before: only deliveries(), which dropped both, so a caller could not tell there was a second page
    create_settled(client, receiver, "tx_p1", "tx_p2", "tx_p3", "tx_p4", "tx_p5")
    first = client.deliveries_page(limit=2)
    assert (first["total"], first["next_offset"]) == (5, 2)
    assert [d["tx_id"] for d in first["deliveries"]] == ["tx_p5", "tx_p4"]  # newest first
    last = client.deliveries_page(limit=2, offset=4)
    assert (last["total"], last["next_offset"]) == (5, None)
    assert [d["tx_id"] for d in last["deliveries"]] == ["tx_p1"]
    assert client.deliveries_page(tx_id="tx_p3")["total"] == 1  # filters as deliveries()
    assert client.deliveries(limit=2) == first["deliveries"]  # unchanged for existing callers


def test_client_iter_deliveries_follows_next_offset(client: PaymockClient, receiver: WebhookReceiver) -> None:
    create_settled(client, receiver, "tx_i1", "tx_i2", "tx_i3", "tx_i4", "tx_i5")
    pages: list[str] = []
    client.http.event_hooks["request"].append(lambda request: pages.append(request.url.params.get("offset", "")))
    got = [d["tx_id"] for d in client.iter_deliveries(page_size=2)]
    assert got == ["tx_i5", "tx_i4", "tx_i3", "tx_i2", "tx_i1"]
    assert pages == ["0", "2", "4"]  # three pages of at most two, no extra request after the last
    assert [d["tx_id"] for d in client.iter_deliveries(page_size=2, event="payment.completed")] == got
    assert list(client.iter_deliveries(tx_id="tx_none")) == []
    with pytest.raises(TypeError, match="page_size"):
        next(client.iter_deliveries(limit=2))


def test_client_iter_deliveries_gives_each_once_while_new_ones_arrive(
    client: PaymockClient, receiver: WebhookReceiver
) -> None:
    # a delivery created between two pages pushes the ones already given onto the next page
    create_settled(client, receiver, "tx_n1", "tx_n2", "tx_n3", "tx_n4", "tx_n5")
    deliveries = client.iter_deliveries(page_size=2)
    got = [next(deliveries)["tx_id"], next(deliveries)["tx_id"]]
    create_settled(client, receiver, "tx_n6")
    got += [d["tx_id"] for d in deliveries]
    assert got == ["tx_n5", "tx_n4", "tx_n3", "tx_n2", "tx_n1"]


@pytest.mark.parametrize("userinfo", ["", "qa:pw-never-shown@"], ids=["plain", "with-credentials"])
def test_client_connect_error_names_the_url(userinfo: str) -> None:
    # before: "httpx.ConnectError: [Errno 111] Connection refused", with no word of which server
    port = free_port()  # bound and released: nobody listens there
    with PaymockClient(f"http://{userinfo}127.0.0.1:{port}") as client:
        for call in (client.health, lambda: client.create_payment("tx_1", "http://127.0.0.1:9/webhook")):
            with pytest.raises(httpx.ConnectError) as info:  # still httpx's type: callers' except clauses hold
                call()
            notes = "\n".join(getattr(info.value, "__notes__", []))
            shown = "***@" if userinfo else ""  # a password in the URL is never said back
            assert f"paymock is not reachable at http://{shown}127.0.0.1:{port}" in notes
            assert "pw-never-shown" not in notes
