package github_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deployq/deployq/github"
	"github.com/deployq/deployq/queue"
)

// A GitHub App: deployq signs a JWT with the app's key, trades it for an
// installation token, and calls the API with that token.
func TestGitHubAppAuth(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "app.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)

	var exchanges atomic.Int32
	checks := &fakeGitHub{auth: "token ghs_installation_token"}
	checks.set(fixture(t, "api/get-combined-status-for-ref.200.json"), fixture(t, "api/list-check-runs-for-ref.200.json"), false)
	mux := http.NewServeMux()
	// No fixture holds this answer; it follows GitHub's documented shape.
	mux.HandleFunc("POST /api/v3/app/installations/77/access_tokens", func(w http.ResponseWriter, r *http.Request) {
		jwt, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		parts := strings.Split(jwt, ".")
		if !ok || len(parts) != 3 {
			http.Error(w, `{"message":"no JWT"}`, http.StatusUnauthorized)
			return
		}
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var c struct {
			Iss any `json:"iss"`
		}
		json.Unmarshal(claims, &c)
		if rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig) != nil || fmt.Sprint(c.Iss) != "12345" {
			http.Error(w, `{"message":"bad JWT"}`, http.StatusUnauthorized)
			return
		}
		exchanges.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"token":"ghs_installation_token","expires_at":%q}`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	})
	mux.Handle("/", checks)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c, err := github.NewAppClient(12345, 77, keyFile, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	app := &queue.App{Name: "hello", Repo: "Codertocat/Hello-World"}
	for range 2 {
		rep, err := c.Checks(context.Background(), app, statusSHA, both)
		if err != nil || rep.State != "success" {
			t.Fatalf("%v %+v", err, rep)
		}
	}
	if n := exchanges.Load(); n != 1 {
		t.Fatalf("%d token exchanges for two calls, want 1 (the token is kept until it expires)", n)
	}
}
