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

	"gopkg.in/yaml.v3"
)

// Error is a config error at a line of a file.
type Error struct {
	File string
	Line int
	Key  string // dotted path, e.g. apps[web].environments[staging].timeout
	Msg  string
}

func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Key != "" {
		s += ": " + e.Key
	}
	return s + ": " + e.Msg
}

type decoder struct {
	file    string
	secrets []string
}

func (d *decoder) errf(n *yaml.Node, key, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

var varRe = regexp.MustCompile(`\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand replaces ${VAR} in every scalar with the environment's value and
// records the values as secrets; $${ stands for a literal ${. Any other $
// is left alone, so shell commands keep their $HOME and $$.
func (d *decoder) expand(n *yaml.Node, key string) error {
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
		if missing != "" {
			return d.errf(n, key, "${%s} is not set in the environment", missing)
		}
		if strings.Contains(varRe.ReplaceAllString(n.Value, ""), "${") {
			return d.errf(n, key, "write ${NAME} to read the environment, or $${ for a literal ${")
		}
		n.Value = strings.ReplaceAll(v, "\x00", "${")
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			sub := n.Content[i].Value
			if key != "" {
				sub = key + "." + sub
			}
			if err := d.expand(n.Content[i+1], sub); err != nil {
				return err
			}
		}
	default:
		for i, c := range n.Content {
			sub := key
			if n.Kind == yaml.SequenceNode {
				sub = fmt.Sprintf("%s[%s]", key, itemName(c, i))
			}
			if err := d.expand(c, sub); err != nil {
				return err
			}
		}
	}
	return nil
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
// of the wrong kind are errors naming the line and key.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, key string) error {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return nil
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.decode(n, v.Elem(), key)
	case reflect.Struct:
		return d.decodeStruct(n, v, key)
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.String {
			v.Set(reflect.ValueOf([]string{n.Value}).Convert(v.Type())) // "all" means [all]
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return d.errf(n, key, "want a list, got %s", kindName(n))
		}
		v.Set(reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content)))
		for i, c := range n.Content {
			if err := d.decode(c, v.Index(i), fmt.Sprintf("%s[%s]", key, itemName(c, i))); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return d.errf(n, key, "want a mapping, got %s", kindName(n))
		}
		v.Set(reflect.MakeMap(v.Type()))
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			ev := reflect.New(v.Type().Elem()).Elem()
			if err := d.decode(val, ev, key+"."+k.Value); err != nil {
				return err
			}
			if v.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
				return d.errf(k, key, "duplicate key %q", k.Value)
			}
			v.SetMapIndex(reflect.ValueOf(k.Value), ev)
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return d.errf(n, key, "want a single value, got %s", kindName(n))
	}
	switch {
	case v.Type() == durationType:
		dur, err := time.ParseDuration(n.Value)
		if err != nil || dur < 0 {
			return d.errf(n, key, "bad duration %q (use e.g. 90s, 30m, 2h)", n.Value)
		}
		v.SetInt(int64(dur))
	case v.Type() == sizeType:
		size, ok := parseSize(n.Value)
		if !ok {
			return d.errf(n, key, "bad size %q (use e.g. 100MB, 512kB, 2GiB)", n.Value)
		}
		v.SetInt(int64(size))
	case v.Kind() == reflect.String:
		v.SetString(n.Value)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil {
			return d.errf(n, key, "want true or false, got %q", n.Value)
		}
		v.SetBool(b)
	case v.Kind() == reflect.Int:
		i, err := strconv.Atoi(n.Value)
		if err != nil {
			return d.errf(n, key, "want a whole number, got %q", n.Value)
		}
		v.SetInt(int64(i))
	default:
		return d.errf(n, key, "cannot hold a %s", v.Type())
	}
	return nil
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, key string) error {
	if n.Kind != yaml.MappingNode {
		return d.errf(n, key, "want a mapping, got %s", kindName(n))
	}
	fields := map[string]int{}
	remain := -1
	var known []string
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("yaml")
		name, opt, _ := strings.Cut(tag, ",")
		switch {
		case opt == "remain":
			remain = i
		case name != "" && name != "-":
			fields[name] = i
			known = append(known, name)
		}
	}
	sort.Strings(known)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		sub := k.Value
		if key != "" {
			sub = key + "." + k.Value
		}
		if seen[k.Value] {
			return d.errf(k, sub, "duplicate key")
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
			return d.errf(k, sub, "unknown key (known: %s)", strings.Join(known, ", "))
		}
		if err := d.decode(val, v.Field(fi), sub); err != nil {
			return err
		}
	}
	return nil
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
