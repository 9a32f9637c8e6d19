package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	"gopkg.in/yaml.v3"
)

type decoder struct {
	file     string
	secrets  []string
	errs     Errors
	warns    Errors
	badValue map[string]bool                // keys whose value could not be decoded
	sites    map[*queue.Environment]envSite // where each environment is written
	logsKept time.Duration                  // the top-level retention of logs (0: forever)
	// prometheus is the server the checks of verifications query unless
	// they name their own.
	prometheus string
	notify     []NotifySink // the sinks read so far
}

// envSite is where an environment is written: its node and key (a
// top-level environment's, for each app that has it).
type envSite struct {
	n   *yaml.Node
	key string
}

var varRe = regexp.MustCompile(`\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand replaces ${VAR} in every scalar with the environment's value and
// records the values as secrets; $${ stands for a literal ${. Any other $
// is left alone, so shell commands keep their $HOME and $$. A scalar with
// an unset variable is an error, and is left as it is.
func (d *decoder) expand(n *yaml.Node, key string) {
	switch n.Kind {
	case yaml.ScalarNode:
		var missing string
		v := varRe.ReplaceAllStringFunc(n.Value, func(m string) string {
			if m == "$${" {
				return "\x00"
			}
			name := m[2 : len(m)-1]
			v, ok := os.LookupEnv(name)
			if !ok && missing == "" {
				missing = name
			}
			if len(v) >= 4 {
				d.secrets = append(d.secrets, v)
			}
			return v
		})
		switch {
		case missing != "":
			d.fail(n, key, "${%s} is not set in the environment", missing)
		case strings.Contains(varRe.ReplaceAllString(n.Value, ""), "${"):
			d.fail(n, key, "write ${NAME} to read the environment, or $${ for a literal ${")
		default:
			n.Value = strings.ReplaceAll(v, "\x00", "${")
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			sub := n.Content[i].Value
			if key != "" {
				sub = key + "." + sub
			}
			d.expand(n.Content[i+1], sub)
		}
	default:
		for i, c := range n.Content {
			sub := key
			if n.Kind == yaml.SequenceNode {
				sub = fmt.Sprintf("%s[%s]", key, itemName(c, i))
			}
			d.expand(c, sub)
		}
	}
}

var durationType = reflect.TypeOf(time.Duration(0))
var sizeType = reflect.TypeOf(Size(0))

// Size is a number of bytes written for people: 100MB, 512kB, 2GiB.
type Size int64

var sizeRe = regexp.MustCompile(`^([0-9]+)\s*(B|kB|KB|KiB|MB|MiB|GB|GiB)?$`)

var sizeUnits = map[string]int64{"": 1, "B": 1, "kB": 1000, "KB": 1000, "KiB": 1 << 10, "MB": 1000 * 1000,
	"MiB": 1 << 20, "GB": 1000 * 1000 * 1000, "GiB": 1 << 30}

func parseSize(s string) (Size, bool) {
	m := sizeRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n > (1<<62)/sizeUnits[m[2]] {
		return 0, false
	}
	return Size(n * sizeUnits[m[2]]), true
}

var nodeType = reflect.TypeOf(yaml.Node{})

// decode fills v from n strictly: unknown keys, duplicate keys and values
// of the wrong kind are errors naming the line and key. It goes on past
// them, and reports whether all of n was decoded.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, key string) bool {
	before := len(d.errs)
	d.decodeValue(n, v, key)
	return len(d.errs) == before
}

func (d *decoder) decodeValue(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decodeValue(n, v.Elem(), key)
		return
	case reflect.Struct:
		d.decodeStruct(n, v, key)
		return
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.String {
			v.Set(reflect.ValueOf([]string{n.Value}).Convert(v.Type())) // "all" means [all]
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.failValue(n, key, "want a list, got %s", kindName(n))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content)))
		for i, c := range n.Content {
			d.decodeValue(c, v.Index(i), fmt.Sprintf("%s[%s]", key, itemName(c, i)))
		}
		return
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.failValue(n, key, "want a mapping, got %s", kindName(n))
			return
		}
		v.Set(reflect.MakeMap(v.Type()))
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if v.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
				d.fail(k, key, "duplicate key %q", k.Value)
				continue
			}
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decodeValue(val, ev, key+"."+k.Value)
			v.SetMapIndex(reflect.ValueOf(k.Value), ev)
		}
		return
	}
	if n.Kind != yaml.ScalarNode {
		d.failValue(n, key, "want a single value, got %s", kindName(n))
		return
	}
	switch {
	case v.Type() == durationType:
		dur, err := queue.ParseDuration(n.Value)
		if err != nil || dur < 0 {
			d.failValue(n, key, "bad duration %q (use e.g. 90s, 30m, 2h)", n.Value)
			return
		}
		v.SetInt(int64(dur))
	case v.Type() == sizeType:
		size, ok := parseSize(n.Value)
		if !ok {
			d.failValue(n, key, "bad size %q (use e.g. 100MB, 512kB, 2GiB)", n.Value)
			return
		}
		v.SetInt(int64(size))
	case v.Kind() == reflect.String:
		v.SetString(n.Value)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil {
			d.failValue(n, key, "want true or false, got %q", n.Value)
			return
		}
		v.SetBool(b)
	case v.Kind() == reflect.Int:
		i, err := strconv.Atoi(n.Value)
		if err != nil {
			d.failValue(n, key, "want a whole number, got %q", n.Value)
			return
		}
		v.SetInt(int64(i))
	default:
		d.failValue(n, key, "cannot hold a %s", v.Type())
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		d.failValue(n, key, "want a mapping, got %s", kindName(n))
		return
	}
	fields, remain, known := yamlFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		sub := k.Value
		if key != "" {
			sub = key + "." + k.Value
		}
		if seen[k.Value] {
			d.fail(k, sub, "duplicate key")
			continue
		}
		seen[k.Value] = true
		fi, ok := fields[k.Value]
		if !ok && remain >= 0 {
			m := v.Field(remain)
			if m.IsNil() {
				m.Set(reflect.MakeMap(m.Type()))
			}
			m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(val))
			continue
		}
		if !ok {
			d.fail(k, sub, "unknown key (known: %s)", strings.Join(known, ", "))
			continue
		}
		d.decodeValue(val, v.Field(fi), sub)
	}
}

// yamlFields returns the fields of a struct type by their YAML key, the
// index of its ",remain" field (-1 without one) and the keys, sorted.
func yamlFields(t reflect.Type) (fields map[string]int, remain int, known []string) {
	fields, remain = map[string]int{}, -1
	for i := 0; i < t.NumField(); i++ {
		name, opt, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		switch {
		case opt == "remain":
			remain = i
		case name != "" && name != "-":
			fields[name] = i
			known = append(known, name)
		}
	}
	sort.Strings(known)
	return fields, remain, known
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// itemName names a list item by its name key when it has one.
func itemName(n *yaml.Node, i int) string {
	if n.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == "name" && n.Content[j+1].Kind == yaml.ScalarNode && n.Content[j+1].Value != "" {
				return n.Content[j+1].Value
			}
		}
	}
	return strconv.Itoa(i)
}
