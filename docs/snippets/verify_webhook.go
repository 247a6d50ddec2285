// Verify a paymock webhook in Go (standard library only). Copy the two functions into your receiver.
// Pass the raw request body (io.ReadAll(r.Body)) before decoding any JSON, and r.Header.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
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

// main is the test harness (tests/sidecar/test_snippets.py): a JSON list of {"secret", "headers",
// "body_b64"} on stdin; prints a JSON list of {"seed": bool, "standard": bool}.
func main() {
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
