package marathon_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/runners/marathon"
)

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	os.WriteFile(p, b, 0o600)
	return p
}

// Validate reads the CA file (its certificates must parse) and checks
// each URL's port.
func TestValidateCAFileAndURLs(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "marathon-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := writeFile(t, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	good := func() marathon.Settings {
		return marathon.Settings{URL: marathon.Strings{"https://marathon-1:8443", "https://marathon-2"}, AppID: marathon.Strings{"/prod/web"},
			Image: "registry/web:{sha}", CAFile: ca}
	}
	ok := good()
	if err := ok.Validate(); err != nil {
		t.Fatalf("good settings: %v", err)
	}
	garbage := writeFile(t, "garbage.pem", []byte("-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n"))
	empty := writeFile(t, "empty.pem", []byte("not a PEM file\n"))
	for _, c := range []struct {
		name  string
		tweak func(*marathon.Settings)
		want  string
	}{
		{"GarbageCA", func(s *marathon.Settings) { s.CAFile = garbage }, "ca_file: " + garbage + ": certificate 1: x509: "},
		{"NoCertificate", func(s *marathon.Settings) { s.CAFile = empty }, "ca_file: " + empty + ": no PEM certificate in it"},
		{"MissingCA", func(s *marathon.Settings) { s.CAFile = "/nonexistent/ca.pem" }, "ca_file: open /nonexistent/ca.pem: no such file or directory"},
		{"PortOutOfRange", func(s *marathon.Settings) { s.URL[1] = "http://marathon-2:65536" }, `url "http://marathon-2:65536": port 65536 is out of range 1-65535`},
		{"NotHTTP", func(s *marathon.Settings) { s.URL[0] = "marathon-1:8080" }, `url "marathon-1:8080": want http:// or https://`},
		{"ImagePlaceholder", func(s *marathon.Settings) { s.Image = "registry/web:{tag}" }, "image: unknown placeholder {tag}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := good()
			s.URL = append(marathon.Strings{}, s.URL...)
			c.tweak(&s)
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

// Probe reads each app from Marathon: one that is there is found, one
// that is not says so.
func TestProbe(t *testing.T) {
	m := simulator(t)
	seed(t, m, "/web", "registry.example.com/web:old", 1)
	s := settings(m, func(s *marathon.Settings) { s.AppID = marathon.Strings{"/web", "/api"} })
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Probe(ctx, func(what string, err error) {
		if err != nil {
			what += ": FAIL " + err.Error()
		}
		got = append(got, what)
	})
	if len(got) != 2 || got[0] != "app /web: found" || !strings.HasPrefix(got[1], "app /api: FAIL marathon: 404") {
		t.Fatalf("got %q", got)
	}
	if reqs := strings.Join(m.Requests(), "\n"); strings.Contains(reqs, "PUT") || strings.Contains(reqs, "POST") || strings.Contains(reqs, "DELETE") {
		t.Fatalf("the probe changed something:\n%s", reqs)
	}
}
