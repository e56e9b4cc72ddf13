package playbook

import (
	"strconv"
	"strings"
	"time"

	"github.com/pgplay/pgplay/internal/yamlsrc"

	"go.yaml.in/yaml/v3"
)

// This file holds the playbook keywords' value readers on top of
// internal/yamlsrc (positions, errors, generic scalar decoders).

func boolPtr(file string, n *yaml.Node, key string) (*bool, error) {
	b, err := yamlsrc.Bool(file, n, key)
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// templateScalar returns a string scalar that holds a template.
func templateScalar(n *yaml.Node) (string, bool) {
	n = yamlsrc.Deref(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && strings.Contains(n.Value, "{{") {
		return n.Value, true
	}
	return "", false
}

// ParseRetries reads a retries: value: a non-negative whole number.
func ParseRetries(s string) (int, bool) {
	i, err := strconv.Atoi(strings.TrimSpace(s))
	return i, err == nil && i >= 0
}

// ParseDelay reads a delay: value: seconds (5, 1.5) or a Go duration
// ("500ms", "2m"), not negative.
func ParseDelay(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if i, err := strconv.Atoi(s); err == nil && i >= 0 {
		return time.Duration(i) * time.Second, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 {
		return time.Duration(f * float64(time.Second)), true
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, true
	}
	return 0, false
}

// intValue reads a non-negative integer.
func intValue(file string, n *yaml.Node, key string) (int, error) {
	n = yamlsrc.Deref(n)
	if n.Kind == yaml.ScalarNode {
		if i, ok := ParseRetries(n.Value); ok {
			return i, nil
		}
	}
	hint := "write a whole number such as 3, or a template giving one: \"{{ .n }}\""
	if key == "throttle" {
		hint = "write a whole number such as 1 (0: as many hosts as --forks)"
	}
	return 0, yamlsrc.ErrAt(file, n, hint, "%s must be a non-negative integer, not %s", key, yamlsrc.Describe(n))
}

// durationValue reads seconds (int) or a Go duration string ("500ms", "1m").
func durationValue(file string, n *yaml.Node, key string) (time.Duration, error) {
	n = yamlsrc.Deref(n)
	if n.Kind == yaml.ScalarNode {
		if d, ok := ParseDelay(n.Value); ok {
			return d, nil
		}
	}
	return 0, yamlsrc.ErrAt(file, n, "write seconds (5) or a duration (\"500ms\", \"2m\"), or a template giving one: \"{{ .d }}\"", "%s must be a duration, not %s", key, yamlsrc.Describe(n))
}

// conditions reads when/changed_when/failed_when/until: a string, a bool, or
// a list of those.
func conditions(file string, n *yaml.Node, key string) ([]string, error) {
	n = yamlsrc.Deref(n)
	one := func(c *yaml.Node) (string, error) {
		c = yamlsrc.Deref(c)
		if c.Kind != yaml.ScalarNode || yamlsrc.IsNull(c) {
			return "", yamlsrc.ErrAt(file, c, "a condition is a pipeline such as: eq .pg_role \"primary\"",
				"%s must be a condition (string or true/false), not %s", key, yamlsrc.Describe(c))
		}
		if c.ShortTag() == "!!bool" {
			b, _ := strconv.ParseBool(c.Value)
			return strconv.FormatBool(b), nil
		}
		if strings.TrimSpace(c.Value) == "" {
			return "", yamlsrc.ErrAt(file, c, "write a condition, or remove the key", "%s is empty", key)
		}
		return c.Value, nil
	}
	if n.Kind == yaml.SequenceNode {
		out := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			s, err := one(c)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := one(n)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}
