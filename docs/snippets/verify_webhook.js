// Verify a paymock webhook in Node.js (built-in crypto only). Copy the two functions into your receiver.
// Pass the raw request body as a Buffer (e.g. express.raw({ type: "application/json" })), not parsed JSON.
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

module.exports = { verifySeedSignature, verifyStandardWebhook };

if (require.main === module) {
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
