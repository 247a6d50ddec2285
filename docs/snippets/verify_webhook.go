// Verify a paymock webhook in Go (standard library only). Copy the functions into your receiver.
// Pass the raw request body (io.ReadAll(r.Body)) before decoding any JSON, and r.Header. HandleWebhook is
// a whole receiver's decision (verify, parse, check the payload, dedupe) that passes `paymock audit`.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// VerifySeedSignature checks X-Payment-Signature: base64(HMAC-SHA256(secret, raw body)), the seed's scheme.
func VerifySeedSignature(body []byte, signature, secret string) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	expected := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(signature), []byte(expected))
}

// VerifyStandardWebhook checks Standard Webhooks' headers: webhook-signature =
// "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)). The key is the secret's bytes,
// or the base64-decoded part of a "whsec_..." secret. Timestamps older or newer than tolerance fail.
func VerifyStandardWebhook(body []byte, header http.Header, secret string, tolerance time.Duration) bool {
	id, ts, sigs := header.Get("webhook-id"), header.Get("webhook-timestamp"), header.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return false
	}
	timestamp, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || math.Abs(float64(time.Now().Unix()-timestamp)) > tolerance.Seconds() {
		return false
	}
	key := []byte(secret)
	if strings.HasPrefix(secret, "whsec_") {
		if key, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_")); err != nil {
			return false
		}
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	expected := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	// several space-separated signatures may be present (key rotation): any valid v1 one passes
	for _, s := range strings.Split(sigs, " ") {
		if strings.HasPrefix(s, "v1,") && hmac.Equal([]byte(s[3:]), []byte(expected)) {
			return true
		}
	}
	return false
}

// HandleWebhook is the status to answer one webhook. seen holds the webhook-ids processed (keep them in
// your database); the caller serialises access to it.
func HandleWebhook(body []byte, header http.Header, secret string, seen map[string]bool) int {
	if !VerifySeedSignature(body, header.Get("X-Payment-Signature"), secret) ||
		!VerifyStandardWebhook(body, header, secret, 5*time.Minute) {
		return http.StatusUnauthorized // forged, tampered, unsigned or stale: not processed
	}
	var event struct {
		Event   *string `json:"event"`
		TxID    *string `json:"tx_id"`
		OrderID *int64  `json:"order_id"`
		Amount  *int64  `json:"amount"`
	}
	if err := json.Unmarshal(body, &event); err != nil {
		return http.StatusBadRequest // not JSON, or a field of the wrong type: never a crash the provider retries
	}
	if event.Event == nil || event.TxID == nil || event.OrderID == nil || event.Amount == nil {
		return http.StatusBadRequest // signed, but not the payload
	}
	id := header.Get("webhook-id")
	if seen[id] {
		return http.StatusOK // a retry or duplicate: acknowledged, not processed twice
	}
	seen[id] = true
	switch *event.Event {
	case "payment.completed":
		// mark *event.OrderID paid here
	case "payment.failed":
		// record the failure here
	}
	return http.StatusOK // other event types: acknowledged and ignored (providers add events)
}

// serve is `go run verify_webhook.go serve`: HandleWebhook at http://127.0.0.1:<port>/webhook (the port is
// printed), verifying with $PAYMENT_WEBHOOK_SECRET (tests/audit/test_snippets_audit.py audits it).
func serve() {
	secret := os.Getenv("PAYMENT_WEBHOOK_SECRET")
	seen := map[string]bool{}
	var mu sync.Mutex
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(listener.Addr().(*net.TCPAddr).Port)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		status := HandleWebhook(body, r.Header, secret, seen)
		mu.Unlock()
		w.WriteHeader(status)
	})
	fmt.Fprintln(os.Stderr, http.Serve(listener, handler))
	os.Exit(1)
}

// main is the test harness (tests/sidecar/test_snippets.py): a JSON list of {"secret", "headers",
// "body_b64"} on stdin; prints a JSON list of {"seed": bool, "standard": bool}.
func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		serve()
	}
	var cases []struct {
		Secret  string            `json:"secret"`
		Headers map[string]string `json:"headers"`
		BodyB64 string            `json:"body_b64"`
	}
	raw, _ := io.ReadAll(os.Stdin)
	if err := json.Unmarshal(raw, &cases); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	results := []map[string]bool{}
	for _, c := range cases {
		body, _ := base64.StdEncoding.DecodeString(c.BodyB64)
		header := http.Header{}
		for k, v := range c.Headers {
			header.Set(k, v)
		}
		results = append(results, map[string]bool{
			"seed":     VerifySeedSignature(body, header.Get("X-Payment-Signature"), c.Secret),
			"standard": VerifyStandardWebhook(body, header, c.Secret, 5*time.Minute),
		})
	}
	out, _ := json.Marshal(results)
	fmt.Println(string(out))
}
