"""`paymock listen`: a webhook receiver for humans and scripts (like `stripe listen`).

Verifies both signature schemes with the configured secret, prints one line per webhook (or one JSON
object with --json) on stdout, optionally forwards each webhook to another URL, and answers with a
chosen status so a provider's retries can be watched. Status messages go to stderr, events to stdout.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import Any

from ..domain.webhooks import DEFAULT_TOLERANCE_S, verdict, verify_seed, verify_standard
from .args import secret_or_exit

# Headers that describe the hop, not the webhook; never forwarded.
_HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9003, help="port to listen on; 0 picks a free one (default 9003)")
    parser.add_argument(
        "--secret",
        help="verifying secret (default $PAYMENT_WEBHOOK_SECRET; both empty: the development secret, and a warning)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per webhook")
    parser.add_argument("--forward-to", metavar="URL", help="also POST each webhook (same body and headers) here")
    parser.add_argument(
        "--status",
        type=int,
        help="answer with this status (default: the forward target's status when forwarding, else 200)",
    )
    parser.add_argument("--reject-invalid", action="store_true", help="answer 401 when a signature does not verify")
    parser.add_argument("--tolerance", type=int, default=DEFAULT_TOLERANCE_S, help="webhook-timestamp tolerance, s")
    parser.add_argument("--max-events", type=int, default=0, help="exit after N webhooks (0: until stopped)")


class Listener:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.count = 0
        self.done = threading.Event()
        self._out = threading.Lock()
        self._forwarder: Any = None
        if args.forward_to:
            import httpx

            self._forwarder = httpx.Client(timeout=10.0, follow_redirects=False)
        # here, not at the top: `paymock serve` imports this module for its arguments, and http.server
        # (email, http.client, ~25 ms) is otherwise not part of the server's start-up
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        listener = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "paymock-listen"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = listener.handle(self.path, list(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass  # one line per event is printed by handle()

        self.server = ThreadingHTTPServer((args.host, args.port), Handler)
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def handle(self, path: str, raw_headers: list[tuple[str, str]], body: bytes) -> int:
        headers = {k.lower(): v for k, v in raw_headers}
        seed_sig = headers.get("x-payment-signature")
        seed = "missing" if not seed_sig else ("ok" if verify_seed(self.args.secret, body, seed_sig) else "invalid")
        problem = verify_standard(self.args.secret, body, headers, time.time(), self.args.tolerance)
        standard = "ok" if problem is None else problem
        forward_status: int | str | None = None
        if self._forwarder is not None:
            forward_status = self._forward(raw_headers, body)
        if self.args.reject_invalid and not (seed == "ok" and standard == "ok"):
            status = 401
        elif self.args.status is not None:
            status = self.args.status
        elif forward_status is not None:
            status = forward_status if isinstance(forward_status, int) else 502
        else:
            status = 200
        self._print(path, headers, body, seed, standard, status, forward_status)
        return status

    def _forward(self, raw_headers: list[tuple[str, str]], body: bytes) -> int | str:
        headers = [(k, v) for k, v in raw_headers if k.lower() not in _HOP_HEADERS]
        try:
            return self._forwarder.post(self.args.forward_to, content=body, headers=headers).status_code
        except Exception as exc:  # any failure is reported on the event line, never raised into the handler
            return f"error: {type(exc).__name__}: {exc}"

    def _print(
        self,
        path: str,
        headers: dict[str, str],
        body: bytes,
        seed: str,
        standard: str,
        status: int,
        forward_status: int | str | None,
    ) -> None:
        try:
            data: Any = json.loads(body)
        except ValueError:
            data = None
        fields = data if isinstance(data, dict) else {}
        now = time.strftime("%H:%M:%S")
        if self.args.json:
            line = json.dumps(
                {
                    "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "path": path,
                    "event": headers.get("x-payment-event"),
                    "webhook_id": headers.get("webhook-id"),
                    "seed_signature": seed,
                    "standard_signature": standard,
                    "answered": status,
                    "forward_status": forward_status,
                    "body": data if data is not None else body.decode("utf-8", "replace"),
                },
                ensure_ascii=False,
            )
        else:
            std = verdict(None if standard == "ok" else standard)
            summary = " ".join(f"{k}={fields[k]}" for k in ("tx_id", "amount", "status") if k in fields)
            forward = "" if forward_status is None else f" forward={forward_status}"
            line = (
                f"{now} {headers.get('x-payment-event', '-')} {headers.get('webhook-id', '-')} "
                f"{summary or 'body=unparsable'} sig={seed}/{std} -> {status}{forward}"
            )
        with self._out:
            print(line, flush=True)
            self.count += 1
            if self.args.max_events and self.count >= self.args.max_events:
                self.done.set()

    def serve(self) -> None:
        thread = threading.Thread(target=self.server.serve_forever, name="paymock-listen", daemon=True)
        thread.start()
        try:
            self.done.wait()
        finally:
            self.server.shutdown()
            self.server.server_close()
            if self._forwarder is not None:
                self._forwarder.close()


def run(args: argparse.Namespace) -> int:
    secret = secret_or_exit("listen", args.secret, "webhooks are verified")
    if secret is None:
        return 2
    args.secret = secret
    try:
        listener = Listener(args)
    except OSError as exc:
        print(f"paymock listen: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    # SIGTERM and Ctrl-C end the listener cleanly (exit 0): stopping it is the normal way to finish.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: listener.done.set())
    forward = f", forwarding to {args.forward_to}" if args.forward_to else ""
    print(f"paymock listen: ready on {listener.url}{forward}", file=sys.stderr, flush=True)
    listener.serve()
    return 0
