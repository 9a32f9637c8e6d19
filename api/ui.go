package api

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/go-chi/chi/v5"
)

// The dashboard: a page and its script and style, embedded, written
// without a build step (plain JavaScript over the same API as the CLI).
//
//go:embed ui/*
var uiFiles embed.FS

func (s *Server) mountUI(r chi.Router) {
	sub, _ := fs.Sub(uiFiles, "ui")
	static := http.StripPrefix("/ui/static/", http.FileServer(http.FS(sub)))
	r.Get("/ui/static/*", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		static.ServeHTTP(w, r)
	})
	index := func(w http.ResponseWriter, r *http.Request) {
		b, _ := uiFiles.ReadFile("ui/index.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Write(b)
	}
	r.Get("/", index)
	r.Get("/ui", index)
}
