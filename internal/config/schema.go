package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Patterns for the textual value types, in ECMA-262 syntax as JSON Schema
// requires (no inline flags, hence the explicit case classes).
const (
	durationPattern = `^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`
	byteSizePattern = `^\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*([kKmMgGtT][iI]?[bB]|[kKmMgG]|[bB])?\s*$`
	namePattern     = `^[A-Za-z0-9][A-Za-z0-9._-]*$`
	percentPattern  = `^\s*(0|\d+(\.\d+)?\s*%)\s*$`
)

// Schema returns a JSON Schema (draft 2020-12) of the configuration file,
// generated from the Go types so that it cannot drift from them: `doc` tags
// become descriptions and `enum` tags enums. Editors use it for completion
// and inline checks; it expresses structure, the loader still validates the
// semantics (references, files, URLs...). The output is stable: objects are
// written with sorted keys.
func Schema() ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}}
	root, err := g.object(reflect.TypeFor[Config]())
	if err != nil {
		return nil, err
	}
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://github.com/floodgate/floodgate/config.schema.json"
	root["title"] = "Floodgate configuration"
	root["description"] = "Configuration file of the Floodgate API gateway (floodgate.yaml)."
	root["$defs"] = g.defs
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // descriptions mention <index>; keep them readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil { // maps encode with sorted keys
		return nil, err
	}
	return buf.Bytes(), nil
}

type schemaGen struct {
	defs map[string]any // named types, referenced as #/$defs/Name
}

// ref returns a reference to the named type t, generating its definition on
// first use.
func (g *schemaGen) ref(t reflect.Type) (map[string]any, error) {
	name := t.Name()
	if _, ok := g.defs[name]; !ok {
		g.defs[name] = nil // placeholder: a recursive type would refer to itself
		def, err := g.define(t)
		if err != nil {
			return nil, err
		}
		g.defs[name] = def
	}
	return map[string]any{"$ref": "#/$defs/" + name}, nil
}

func (g *schemaGen) define(t reflect.Type) (map[string]any, error) {
	switch t {
	case reflect.TypeFor[Duration]():
		// Also the integer 0: YAML reads "timeout: 0" as a number and the
		// loader accepts it; "pattern" only constrains strings and
		// "maximum" only numbers.
		return map[string]any{
			"description": "A duration with a unit, as Go's time.ParseDuration accepts: 250ms, 10s, 1m30s. A bare number other than 0 is rejected.",
			"type":        []string{"string", "integer"},
			"pattern":     durationPattern,
			"minimum":     0,
			"maximum":     0,
		}, nil
	case reflect.TypeFor[ByteSize]():
		return map[string]any{
			"description": "A number of bytes, as an integer or with a unit: 512, 64KB, 32KiB, 10MB, 1MiB. KB/MB/GB are powers of 1000, KiB/MiB/GiB powers of 1024; units are case-insensitive.",
			"type":        []string{"string", "integer"},
			"pattern":     byteSizePattern,
			"minimum":     0,
		}, nil
	case reflect.TypeFor[Percent]():
		// Strings with a % sign; the only bare number accepted is 0
		// (whether 0.5 is half or half a percent is not for us to guess).
		// A string above 100% passes the pattern; the loader refuses it.
		// "pattern" only constrains strings, the bounds only numbers (of
		// which 0 is the only one allowed).
		return map[string]any{
			"description": "A percentage with a % sign: \"20%\", \"12.5%\" (or 0). Range 0%-100%.",
			"type":        []string{"string", "number"},
			"pattern":     percentPattern,
			"minimum":     0,
			"maximum":     0,
		}, nil
	case reflect.TypeFor[Target]():
		obj, err := g.object(t)
		if err != nil {
			return nil, err
		}
		return map[string]any{
			"description": "A backend instance: a URL string (http://127.0.0.1:9001) or a mapping {url, weight}.",
			"oneOf": []any{
				map[string]any{"type": "string", "description": "Shorthand for {url: <this>, weight: 1}."},
				obj,
			},
		}, nil
	}
	if t.Kind() == reflect.Struct {
		return g.object(t)
	}
	return nil, fmt.Errorf("config schema: no definition for %s", t)
}

// object describes a struct as a closed JSON object.
func (g *schemaGen) object(t reflect.Type) (map[string]any, error) {
	props := map[string]any{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, ok := yamlName(f)
		if !ok {
			continue
		}
		s, err := g.typeSchema(f.Type)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t.Name(), f.Name, err)
		}
		if doc := f.Tag.Get("doc"); doc != "" {
			s["description"] = doc
		}
		if enum := f.Tag.Get("enum"); enum != "" {
			setEnum(s, strings.Split(enum, ","))
		}
		for k, v := range constraints(t, name) {
			s[k] = v
		}
		props[name] = override(t, name, s)
	}
	obj := map[string]any{
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if req := requiredFields(t); len(req) > 0 {
		obj["required"] = req
	}
	if t == reflect.TypeFor[Upstream]() {
		// At least one target or a discovery source.
		obj["anyOf"] = []any{
			map[string]any{"required": []string{"targets"}, "properties": map[string]any{"targets": map[string]any{"minItems": 1}}},
			map[string]any{"required": []string{"discovery"}},
		}
	}
	return obj, nil
}

// setEnum restricts a string field to values. A value that reads as a
// number in YAML (min_version: 1.3) is also allowed as that number, since the
// loader takes any scalar as text and editors check the YAML's own types.
func setEnum(s map[string]any, values []string) {
	enum := make([]any, 0, len(values))
	numeric := false
	for _, v := range values {
		enum = append(enum, v)
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			enum = append(enum, f)
			numeric = true
		}
	}
	s["enum"] = enum
	if numeric {
		s["type"] = []string{"string", "number"}
	}
}

// typeSchema returns a fresh schema for t (callers add to it).
func (g *schemaGen) typeSchema(t reflect.Type) (map[string]any, error) {
	switch t {
	case reflect.TypeFor[Duration](), reflect.TypeFor[ByteSize](), reflect.TypeFor[Percent](), reflect.TypeFor[Target]():
		return g.ref(t)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.typeSchema(t.Elem())
	case reflect.Struct:
		return g.ref(t)
	case reflect.Slice:
		items, err := g.typeSchema(t.Elem())
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "array", "items": items}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key %s is not a string", t.Key())
		}
		values, err := g.typeSchema(t.Elem())
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "object", "additionalProperties": values}, nil
	case reflect.String:
		return map[string]any{"type": "string"}, nil
	case reflect.Bool:
		return map[string]any{"type": "boolean"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}, nil
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}, nil
	}
	return nil, fmt.Errorf("unsupported type %s", t)
}

// requiredFields lists the fields validation requires, so editors flag them
// missing too. It is a function rather than a table to keep package state
// immutable.
func requiredFields(t reflect.Type) []string {
	switch t {
	case reflect.TypeFor[Config]():
		return []string{"listeners"}
	case reflect.TypeFor[Listener]():
		return []string{"address"}
	case reflect.TypeFor[ListenerTLS]():
		return []string{"certificates"}
	case reflect.TypeFor[Certificate]():
		return []string{"cert_file", "key_file"}
	case reflect.TypeFor[Upstream]():
		return []string{"name"} // and targets or discovery: see object
	case reflect.TypeFor[DNSDiscovery]():
		return []string{"name"}
	case reflect.TypeFor[FileDiscovery]():
		return []string{"path"}
	case reflect.TypeFor[HashKey]():
		return []string{"source"}
	case reflect.TypeFor[Limits]():
		return []string{"max_concurrent"}
	case reflect.TypeFor[Target]():
		return []string{"url"}
	case reflect.TypeFor[Predicate]():
		return []string{"name"}
	}
	return nil
}

// constraints adds the bounds validation enforces on individual fields.
func constraints(t reflect.Type, field string) map[string]any {
	switch t {
	case reflect.TypeFor[Config]():
		if field == "listeners" {
			return map[string]any{"minItems": 1}
		}
	case reflect.TypeFor[ListenerTLS]():
		if field == "certificates" {
			return map[string]any{"minItems": 1}
		}
	case reflect.TypeFor[Upstream]():
		switch field {
		case "name":
			return map[string]any{"pattern": namePattern}
		case "max_idle_conns_per_target":
			return map[string]any{"minimum": -1}
		}
	case reflect.TypeFor[Target]():
		if field == "weight" {
			return map[string]any{"minimum": 0, "maximum": maxWeight}
		}
	case reflect.TypeFor[DNSDiscovery]():
		if field == "port" {
			return map[string]any{"minimum": 1, "maximum": 65535}
		}
	case reflect.TypeFor[ActiveHealth]():
		switch field {
		case "healthy_threshold", "unhealthy_threshold":
			return map[string]any{"minimum": 0, "maximum": maxThreshold}
		case "path":
			return map[string]any{"pattern": "^/"}
		}
	case reflect.TypeFor[PassiveHealth]():
		switch field {
		case "consecutive_failures":
			return map[string]any{"minimum": 0, "maximum": maxConsecutiveFailures}
		case "min_requests":
			return map[string]any{"minimum": 0}
		}
	case reflect.TypeFor[Breaker]():
		switch field {
		case "consecutive_failures", "min_requests":
			return map[string]any{"minimum": 0}
		case "half_open_requests":
			return map[string]any{"minimum": 0, "maximum": maxHalfOpenRequests}
		}
	case reflect.TypeFor[Retries]():
		switch field {
		case "attempts":
			return map[string]any{"minimum": 0, "maximum": maxAttempts}
		case "min_per_second":
			return map[string]any{"minimum": 0}
		}
	case reflect.TypeFor[Limits]():
		switch field {
		case "max_concurrent":
			return map[string]any{"minimum": 1}
		case "queue":
			return map[string]any{"minimum": 0}
		}
	case reflect.TypeFor[Route]():
		if field == "name" {
			return map[string]any{"pattern": namePattern}
		}
	case reflect.TypeFor[Static]():
		if field == "status" {
			return map[string]any{"minimum": 200, "maximum": 599}
		}
	}
	return nil
}

// override replaces a field's generated schema where the field accepts more
// or other than its type: buffer_body takes -1 ("never buffer"), which
// ByteSize does not, and on_status only statuses worth retrying.
func override(t reflect.Type, field string, s map[string]any) map[string]any {
	switch {
	case t == reflect.TypeFor[Retries]() && field == "buffer_body":
		return map[string]any{
			"description": s["description"],
			"oneOf": []any{
				map[string]any{"$ref": s["$ref"], "maximum": maxBufferBody},
				map[string]any{"enum": []any{-1}},
			},
		}
	case t == reflect.TypeFor[Retries]() && field == "on_status":
		s["items"] = map[string]any{
			"type": "integer",
			"oneOf": []any{
				map[string]any{"enum": []any{408, 425, 429}},
				map[string]any{"minimum": 500, "maximum": 599},
			},
		}
	}
	return s
}
