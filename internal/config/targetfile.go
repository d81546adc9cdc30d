package config

import (
	"reflect"

	"gopkg.in/yaml.v3"
)

// ReadTargets reads a discovery file (upstreams[].discovery.file): a YAML
// or JSON list of targets, each a URL string or {url, weight}, with the
// rules of static targets. On failure the error is an Errors, in file order.
// The file is named as path in messages.
func ReadTargets(path string) ([]Target, error) {
	data, err := readFileLimited(path, maxFileSize)
	if err != nil {
		return nil, Errors{{File: path, Msg: "cannot read targets: " + describeFileError(err)}}
	}
	return ParseTargets(path, data)
}

// ParseTargets does the same as ReadTargets from bytes; file names the data
// in messages. An empty file is an error, as at run time (discovery.File):
// a file caught mid-rewrite must not empty the pool, so no targets is
// written [].
func ParseTargets(file string, data []byte) ([]Target, error) {
	ts, _, errs := parseTargets(file, data)
	if len(errs) > 0 {
		return nil, errs
	}
	return ts, nil
}

// parseTargets decodes and checks a targets file, returning the Source of
// its positions for further checks.
func parseTargets(file string, data []byte) ([]Target, *Source, Errors) {
	src := &Source{File: file, Dir: dirOf(file), pos: map[string]position{}, env: map[string]bool{}}
	if len(data) > maxFileSize {
		return nil, nil, Errors{{File: file, Msg: "larger than 8 MiB"}}
	}
	root, perr := parseDocument(file, data)
	if perr != nil {
		return nil, nil, Errors{*perr}
	}
	if root == nil {
		return nil, nil, Errors{{File: file, Msg: "file is empty (write [] for no targets)"}}
	}
	if root.Kind != yaml.SequenceNode {
		return nil, nil, Errors{{File: file, Line: root.Line, Column: root.Column,
			Msg: "expected a list of targets (URL strings or {url, weight} mappings), got " + describeNode(root)}}
	}
	d := newDecoder(src)
	var ts []Target
	d.decode(root, reflect.ValueOf(&ts).Elem(), "")
	if len(d.errs) > 0 {
		d.errs.Sort()
		return nil, nil, d.errs
	}
	var errs Errors
	for i, t := range ts {
		p := IndexPath("", i)
		if _, msg := checkTargetURL(t.URL); msg != "" {
			errs = append(errs, src.Errorf(p+".url", "%s", msg))
		}
		if t.Weight < 0 || t.Weight > maxWeight {
			errs = append(errs, src.Errorf(p+".weight", "weight %d is out of range 1-%d", t.Weight, maxWeight))
		}
		if len(errs) >= maxErrors {
			break
		}
	}
	if len(errs) > 0 {
		errs.Sort()
		return nil, nil, errs
	}
	return ts, src, nil
}
