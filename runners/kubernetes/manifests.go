package kubernetes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/deployq/deployq/runners"
	"gopkg.in/yaml.v3"
)

// ManifestFiles lists the files of a manifests directory a deploy
// applies: every .yaml, .yml and .json file in it, in name order.
func ManifestFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				paths = append(paths, filepath.Join(dir, e.Name()))
			}
		}
	}
	sort.Strings(paths)
	return paths, nil
}

// ExpandImages fills placeholders ({sha}, ...) in the "image" fields of an
// object, and nowhere else.
func ExpandImages(v any, values map[string]string) error {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if s, ok := x.(string); ok && k == "image" {
				img, err := runners.ExpandPlain(s, values)
				if err != nil {
					return err
				}
				t[k] = img
				continue
			}
			if err := ExpandImages(x, values); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range t {
			if err := ExpandImages(x, values); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkManifests reads the objects of a manifests directory as YAML (JSON
// is YAML too) and checks that each names itself and that its image
// templates expand. What the API server thinks of them is the deploy's
// concern.
func checkManifests(dir string, values map[string]string) error {
	paths, err := ManifestFiles(dir)
	if err != nil {
		return err
	}
	var errs []error
	objects := 0
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for doc := 1; ; doc++ {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return fmt.Errorf("%s: document %d: %v", path, doc, err)
			}
			if len(m) == 0 {
				continue
			}
			objects++
			meta, _ := m["metadata"].(map[string]any)
			kind, _ := m["kind"].(string)
			name, _ := meta["name"].(string)
			if api, _ := m["apiVersion"].(string); api == "" || kind == "" || name == "" {
				return fmt.Errorf("%s: document %d: apiVersion, kind and metadata.name are required", path, doc)
			}
			if err := ExpandImages(m, values); err != nil {
				errs = append(errs, fmt.Errorf("manifests %s/%s: %v", kind, name, err))
			}
		}
	}
	if objects == 0 {
		return fmt.Errorf("manifests %s: no objects in *.yaml, *.yml or *.json", dir)
	}
	return errors.Join(errs...)
}
