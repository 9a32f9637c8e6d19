package marathon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
)

// AppDefinition is an app as PUT /v2/apps/{id} takes it, typed on
// Marathon's published schema (AppDefinition.json, Marathon 1.7): the
// properties deployq reads or changes are fields; every other property of
// the schema is kept as it came, so a PUT changes nothing else. Read-only
// properties of GET answers (tasks, counts, deployments, version, ...) and
// nulls are dropped.
type AppDefinition struct {
	ID           string                     // the absolute app id, /prod/web
	Instances    *int                       // nil: Marathon's default, 1
	Labels       map[string]string          // deployq's among them
	HealthChecks []json.RawMessage          // as they came; counted, never changed
	Container    *Container                 // nil for an app without one
	Other        map[string]json.RawMessage // the rest of the schema's properties
}

// Container is an app's container; Docker.Image is what deploys change.
type Container struct {
	Docker *Docker                    // nil for a container of another type
	Other  map[string]json.RawMessage // the container's other properties
}

// Docker is the docker part of a container.
type Docker struct {
	Image string                     // what a deploy sets
	Other map[string]json.RawMessage // the docker part's other properties
}

// Properties are the app definition's properties in AppDefinition.json
// that a PUT may carry (version and versionInfo are Marathon's to set: a
// PUT with a version means "go back to that version").
var Properties = []string{
	"acceptedResourceRoles", "args", "backoffFactor", "backoffSeconds", "cmd", "constraints", "container",
	"cpus", "dependencies", "disk", "env", "executor", "executorResources", "fetch", "gpus", "healthChecks",
	"id", "instances", "ipAddress", "killSelection", "labels", "maxLaunchDelaySeconds", "mem", "networks",
	"portDefinitions", "ports", "readinessChecks", "requirePorts", "residency", "secrets",
	"taskKillGracePeriodSeconds", "unreachableStrategy", "upgradeStrategy", "uris", "user",
}

var writable = func() map[string]bool {
	m := map[string]bool{}
	for _, p := range Properties {
		m[p] = true
	}
	return m
}()

func isNull(b json.RawMessage) bool { return len(b) == 0 || string(b) == "null" }

// dropNulls removes null members at any depth: GET answers carry nulls
// (a health check's "command": null) that a definition may not.
func dropNulls(b json.RawMessage) json.RawMessage {
	if !bytes.Contains(b, []byte("null")) {
		return b
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return b
	}
	out, err := json.Marshal(stripNulls(v))
	if err != nil {
		return b
	}
	return out
}

func stripNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if x == nil {
				delete(t, k)
			} else {
				t[k] = stripNulls(x)
			}
		}
	case []any:
		for i, x := range t {
			t[i] = stripNulls(x)
		}
	}
	return v
}

// splitObject decodes a JSON object: the members named in known into
// their destinations, the others (but nulls, at any depth) kept as they
// came. keep, when set, says which other members to keep at all.
func splitObject(b []byte, known map[string]any, keep func(string) bool) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	rest := map[string]json.RawMessage{}
	for k, v := range m {
		if keep != nil && !keep(k) {
			continue
		}
		if v = dropNulls(v); isNull(v) {
			continue
		}
		if dst, ok := known[k]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return nil, fmt.Errorf("%s: %v", k, err)
			}
			continue
		}
		rest[k] = v
	}
	return rest, nil
}

// joinObject writes rest with the set members over it.
func joinObject(rest map[string]json.RawMessage, set map[string]any) ([]byte, error) {
	m := map[string]any{}
	for k, v := range rest {
		m[k] = v
	}
	maps.Copy(m, set)
	return json.Marshal(m)
}

// UnmarshalJSON keeps the schema's properties.
func (a *AppDefinition) UnmarshalJSON(b []byte) error {
	*a = AppDefinition{}
	rest, err := splitObject(b, map[string]any{"id": &a.ID, "instances": &a.Instances, "labels": &a.Labels,
		"healthChecks": &a.HealthChecks, "container": &a.Container}, func(k string) bool { return writable[k] })
	a.Other = rest
	return err
}

// MarshalJSON writes the properties back.
func (a AppDefinition) MarshalJSON() ([]byte, error) {
	set := map[string]any{"id": a.ID}
	if a.Instances != nil {
		set["instances"] = *a.Instances
	}
	if a.Labels != nil {
		set["labels"] = a.Labels
	}
	if a.HealthChecks != nil {
		set["healthChecks"] = a.HealthChecks
	}
	if a.Container != nil {
		set["container"] = a.Container
	}
	return joinObject(a.Other, set)
}

// UnmarshalJSON keeps every property of a container.
func (c *Container) UnmarshalJSON(b []byte) error {
	*c = Container{}
	rest, err := splitObject(b, map[string]any{"docker": &c.Docker}, nil)
	c.Other = rest
	return err
}

// MarshalJSON writes a container back.
func (c Container) MarshalJSON() ([]byte, error) {
	set := map[string]any{}
	if c.Docker != nil {
		set["docker"] = c.Docker
	}
	return joinObject(c.Other, set)
}

// UnmarshalJSON keeps every property of the docker part.
func (d *Docker) UnmarshalJSON(b []byte) error {
	*d = Docker{}
	rest, err := splitObject(b, map[string]any{"image": &d.Image}, nil)
	d.Other = rest
	return err
}

// MarshalJSON writes the docker part back.
func (d Docker) MarshalJSON() ([]byte, error) {
	set := map[string]any{}
	if d.Image != "" {
		set["image"] = d.Image
	}
	return joinObject(d.Other, set)
}

// Clone deep-copies a definition.
func (a *AppDefinition) Clone() *AppDefinition {
	b, _ := json.Marshal(a)
	c := &AppDefinition{}
	json.Unmarshal(b, c)
	return c
}
