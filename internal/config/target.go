package config

import "gopkg.in/yaml.v3"

// UnmarshalYAML accepts a target written as a URL string
// ("- http://127.0.0.1:9001") or as a mapping ({url: ..., weight: 3}).
// Load has its own decoder with the same rule; this method is for code that
// decodes a Target with yaml.v3 directly.
func (t *Target) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*t = Target{URL: n.Value}
		return nil
	}
	type plain Target // no methods: avoids calling this method again
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*t = Target(p)
	return nil
}
