package git_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/deployq/deployq/git"
	"github.com/deployq/deployq/internal/gittest"
	"github.com/deployq/deployq/queue"
)

func TestResolve(t *testing.T) {
	ctx := context.Background()
	repo := gittest.New(t)
	first := repo.Commit("one", map[string]string{"a": "1"})
	repo.Tag("v1.0.0", "release one") // annotated: must resolve to the commit
	repo.Tag("light", "")
	second := repo.Commit("two", map[string]string{"a": "2"})
	repo.Git("checkout", "--quiet", "-b", "feature/x")
	feature := repo.Commit("three", map[string]string{"a": "3"})

	app := &queue.App{Name: "web", Git: repo.Bare}
	r := git.NewResolver(filepath.Join(t.TempDir(), "mirrors"))
	cases := []struct {
		ref, want string
		code      queue.Code
	}{
		{"main", second, ""},
		{"feature/x", feature, ""},
		{"v1.0.0", first, ""},
		{"light", first, ""},
		{first[:7], first, ""},
		{second, second, ""},
		{"nope", "", queue.EInvalid},
		{"abcdef1", "", queue.EInvalid},
		{"main;id", "", queue.EInvalid},
		{"--upload-pack=touch", "", queue.EInvalid},
	}
	for _, c := range cases {
		t.Run(c.ref, func(t *testing.T) {
			got, err := r.Resolve(ctx, app, c.ref)
			if queue.ErrorCode(err) != c.code || got != c.want {
				t.Fatalf("got %q %v, want %q %s", got, err, c.want, c.code)
			}
		})
	}
	// A commit pushed after the mirror was made is found by fetching.
	later := repo.Commit("four", map[string]string{"a": "4"})
	if got, err := r.Resolve(ctx, app, later[:10]); err != nil || got != later {
		t.Fatalf("new commit: %q %v", got, err)
	}
}

func TestResolveWithoutGit(t *testing.T) {
	r := git.NewResolver(t.TempDir())
	app := &queue.App{Name: "web"}
	full := "0123456789abcdef0123456789abcdef01234567"
	if got, err := r.Resolve(context.Background(), app, full); err != nil || got != full {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := r.Resolve(context.Background(), app, "main"); queue.ErrorCode(err) != queue.EInvalid {
		t.Fatalf("branch without git: %v", err)
	}
	bad := &queue.App{Name: "web", Git: filepath.Join(t.TempDir(), "missing.git")}
	if _, err := r.Resolve(context.Background(), bad, "main"); queue.ErrorCode(err) != queue.EInternal {
		t.Fatalf("unreachable repo: %v", err)
	}
}

// Refs lists the branches, then the tags (annotated ones once).
func TestRefs(t *testing.T) {
	repo := gittest.New(t)
	repo.Commit("one", map[string]string{"a": "1"})
	repo.Tag("v1.0.0", "release one")
	repo.Tag("light", "")
	repo.Git("checkout", "--quiet", "-b", "feature/x")
	repo.Commit("two", map[string]string{"a": "2"})
	r := git.NewResolver(filepath.Join(t.TempDir(), "mirrors"))
	got, err := r.Refs(context.Background(), &queue.App{Name: "web", Git: repo.Bare})
	if want := []string{"feature/x", "main", "light", "v1.0.0"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("refs %q, %v; want %q", got, err, want)
	}
	if got, err := r.Refs(context.Background(), &queue.App{Name: "nogit"}); err != nil || got != nil {
		t.Fatalf("an app without git: %q %v", got, err)
	}
}
