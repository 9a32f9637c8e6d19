package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Param is one typed parameter of an environment's deploys: given as
// migrate=true in chat, --param in the CLI, params in the API; validated
// before the deploy is queued, kept with it, and passed to its runner as
// DEPLOY_PARAM_<NAME> and the {param.name} placeholder.
type Param struct {
	Name     string   // lower-case letters, digits and _, a letter first
	Type     string   // bool, enum, int or string
	Default  string   // used when it is not given ("": none)
	Values   []string // enum: the values it takes
	Required bool     // it must be given (when it has no default)
	Max      int      // string: at most this many bytes (0: 200)
}

// DefaultParamMax is how many bytes a string parameter takes when its
// max is not given.
const DefaultParamMax = 200

// MetaParams is the deploy meta key of its parameters, a JSON object.
const MetaParams = "params"

// ParamTypes are the types a parameter may have.
var ParamTypes = []string{"bool", "enum", "int", "string"}

// ValidParamName reports whether name can name a parameter.
func ValidParamName(name string) bool {
	if name == "" || len(name) > 64 || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	return strings.IndexFunc(name, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') }) < 0
}

// checkParams validates given against env's parameters and returns them
// with their defaults; EInvalid names the parameter at fault.
func checkParams(env *Environment, given map[string]string) (map[string]string, error) {
	if len(given) > 0 && len(env.Params) == 0 {
		return nil, Errorf(EInvalid, "%s takes no parameters", env.Name)
	}
	out := map[string]string{}
	for name, v := range given {
		i := slices.IndexFunc(env.Params, func(p Param) bool { return p.Name == strings.ToLower(name) })
		if i < 0 {
			var names []string
			for _, p := range env.Params {
				names = append(names, p.Name)
			}
			return nil, Errorf(EInvalid, "unknown parameter %+.40q for %s (parameters: %s)", name, env.Name, strings.Join(names, ", "))
		}
		p := env.Params[i]
		ok, err := p.value(v)
		if err != nil {
			return nil, err
		}
		out[p.Name] = ok
	}
	for _, p := range env.Params {
		if _, ok := out[p.Name]; ok {
			continue
		}
		switch {
		case p.Default != "":
			out[p.Name] = p.Default
		case p.Required:
			msg := fmt.Sprintf("parameter %s is required in %s", p.Name, env.Name)
			if p.Type == "enum" {
				msg += " (" + strings.Join(p.Values, ", ") + ")"
			}
			return nil, Errorf(EInvalid, "%s", msg)
		}
	}
	return out, nil
}

// value checks v as p's value and returns it as kept.
func (p Param) value(v string) (string, error) {
	bad := func(want string) error {
		return Errorf(EInvalid, "parameter %s: want %s, got %+.60q", p.Name, want, v)
	}
	switch p.Type {
	case "bool":
		switch strings.ToLower(v) {
		case "true", "yes", "1":
			return "true", nil
		case "false", "no", "0":
			return "false", nil
		}
		return "", bad("true or false")
	case "enum":
		if !slices.Contains(p.Values, v) {
			return "", bad("one of " + strings.Join(p.Values, ", "))
		}
	case "int":
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return "", bad("a whole number")
		}
	default:
		max := p.Max
		if max <= 0 {
			max = DefaultParamMax
		}
		if len(v) > max || strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) >= 0 {
			return "", bad(fmt.Sprintf("at most %d bytes of text, one line", max))
		}
	}
	return v, nil
}

// CheckParam checks v as p's value and returns it as it is kept.
func CheckParam(p Param, v string) (string, error) { return p.value(v) }

// paramsOf reads the parameters kept with a deploy (none: nil).
func paramsOf(ctx context.Context, store Store, id int64) (map[string]string, error) {
	raw, err := store.Meta(ctx, id, MetaParams)
	if err != nil || raw == "" {
		return nil, err
	}
	var out map[string]string
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return nil, fmt.Errorf("the parameters of deploy #%d: %w", id, err)
	}
	return out, nil
}

// paramsText says parameters for a log or the audit: "migrate=true region=eu".
func paramsText(params map[string]string) string {
	var names []string
	for k := range params {
		names = append(names, k)
	}
	slices.Sort(names)
	var parts []string
	for _, k := range names {
		parts = append(parts, k+"="+params[k])
	}
	return strings.Join(parts, " ")
}
