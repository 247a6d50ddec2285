"""The test receiver (`WebhookReceiver`): a slow `respond` callback holds up nothing else. Real loopback
sockets."""

from __future__ import annotations

import threading

import httpx

from paymock.testing.receiver import ReceivedWebhook, WebhookReceiver


def test_a_blocked_respond_callback_does_not_hold_up_other_webhooks() -> None:
    entered = threading.Event()
    release = threading.Event()

    def respond(hook: ReceivedWebhook) -> int:
        if hook.path == "/slow":
            entered.set()
            return 200 if release.wait(10) else 504  # bounded: a hang ends as a visible 504
        return 202

    receiver = WebhookReceiver("s", respond=respond)
    answers: dict[str, int] = {}

    def post(path: str) -> None:
        answers[path] = httpx.post(receiver.url(path), content=b"{}", timeout=15).status_code

    slow = threading.Thread(target=post, args=("/slow",), daemon=True)
    fast = threading.Thread(target=post, args=("/fast",), daemon=True)
    try:
        slow.start()
        assert entered.wait(5), "the slow webhook never reached the callback"
        fast.start()
        (hook,) = receiver.wait_for(1, timeout=5, path="/fast")
        fast.join(5)
        # all of this happened while the first callback is still blocked
        assert not release.is_set() and slow.is_alive()
        assert receiver.for_path("/slow") == []
        assert hook.answered == 202 and answers["/fast"] == 202

        release.set()
        slow.join(5)
        assert not slow.is_alive()
        assert answers["/slow"] == 200
        # `received` is in order of arrival, though /fast was answered first: a reorder test reads it
        assert [h.path for h in receiver.wait_for(2, timeout=5)] == ["/slow", "/fast"]
    finally:
        release.set()
        receiver.close()
