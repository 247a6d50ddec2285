// Verify a paymock webhook in Node.js (built-in crypto only). Copy the functions into your receiver.
// Pass the raw request body as a Buffer (e.g. express.raw({ type: "application/json" })), not parsed JSON.
// handleWebhook is a whole receiver's decision (verify, parse, check the payload, dedupe) that passes
// `paymock audit`.
"use strict";
const crypto = require("node:crypto");

function safeEqual(a, b) {
  const x = Buffer.from(a || "", "utf8");
  const y = Buffer.from(b || "", "utf8");
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

// X-Payment-Signature: base64(HMAC-SHA256(secret, raw body)), the seed's scheme.
function verifySeedSignature(body, signature, secret) {
  const expected = crypto.createHmac("sha256", Buffer.from(secret, "utf8")).update(body).digest("base64");
  return safeEqual(signature, expected);
}

// Standard Webhooks: webhook-signature = "v1," + base64(HMAC-SHA256(key, `${id}.${timestamp}.${body}`)).
// The key is the secret's UTF-8 bytes, or the base64-decoded part of a "whsec_..." secret.
// headers: an object with lower-case names (Node's req.headers already is).
function verifyStandardWebhook(body, headers, secret, toleranceS = 300) {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  const signatures = headers["webhook-signature"];
  if (!id || !timestamp || !signatures || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceS) return false; // stale or replayed
  const key = secret.startsWith("whsec_")
    ? Buffer.from(secret.slice("whsec_".length), "base64")
    : Buffer.from(secret, "utf8");
  const expected = crypto
    .createHmac("sha256", key)
    .update(Buffer.concat([Buffer.from(`${id}.${timestamp}.`, "utf8"), body]))
    .digest("base64");
  // several space-separated signatures may be present (key rotation): any valid v1 one passes
  return signatures.split(" ").some((s) => s.startsWith("v1,") && safeEqual(s.slice(3), expected));
}

// The status to answer one webhook. `seen` (a Set) holds the webhook-ids processed: keep it in your database.
function handleWebhook(body, headers, secret, seen) {
  if (!(verifySeedSignature(body, headers["x-payment-signature"], secret) &&
        verifyStandardWebhook(body, headers, secret))) {
    return 401; // forged, tampered, unsigned or stale: not processed
  }
  let event;
  try {
    event = JSON.parse(body.toString("utf8"));
  } catch (e) {
    return 400; // not JSON: a 400, never a crash the provider would retry
  }
  const isObject = event !== null && typeof event === "object" && !Array.isArray(event);
  if (!isObject || typeof event.event !== "string" || typeof event.tx_id !== "string" ||
      !Number.isInteger(event.order_id) || !Number.isInteger(event.amount)) {
    return 400; // signed, but not the payload
  }
  const id = headers["webhook-id"];
  if (seen.has(id)) return 200; // a retry or duplicate: acknowledged, not processed twice
  seen.add(id);
  if (event.event === "payment.completed") {
    // mark event.order_id paid here
  } else if (event.event === "payment.failed") {
    // record event.failure_reason here
  }
  return 200; // other event types: acknowledged and ignored (providers add events)
}

module.exports = { verifySeedSignature, verifyStandardWebhook, handleWebhook };

// `node verify_webhook.js serve`: handleWebhook at http://127.0.0.1:<port>/webhook (the port is printed),
// verifying with $PAYMENT_WEBHOOK_SECRET (tests/audit/test_snippets_audit.py audits it).
function serve() {
  const http = require("node:http");
  const secret = process.env.PAYMENT_WEBHOOK_SECRET;
  const seen = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      res.writeHead(handleWebhook(Buffer.concat(chunks), req.headers, secret, seen), { "Content-Length": "0" });
      res.end();
    });
  });
  server.listen(0, "127.0.0.1", () => console.log(server.address().port));
}

if (require.main === module && process.argv[2] === "serve") {
  serve();
} else if (require.main === module) {
  // Test harness (tests/sidecar/test_snippets.py): a JSON list of {"secret", "headers", "body_b64"}
  // on stdin; prints a JSON list of {"seed": bool, "standard": bool}.
  const chunks = [];
  process.stdin.on("data", (c) => chunks.push(c));
  process.stdin.on("end", () => {
    const cases = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    const results = cases.map((c) => {
      const body = Buffer.from(c.body_b64, "base64");
      const headers = Object.fromEntries(Object.entries(c.headers).map(([k, v]) => [k.toLowerCase(), v]));
      return {
        seed: verifySeedSignature(body, headers["x-payment-signature"], c.secret),
        standard: verifyStandardWebhook(body, headers, c.secret),
      };
    });
    console.log(JSON.stringify(results));
  });
}
