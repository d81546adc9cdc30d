package discovery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"gopkg.in/yaml.v3"
)

// File returns a source that reads its endpoints from a file: YAML, or JSON
// when the name ends in .json, holding a list whose items are URL strings or
// {url, weight} objects, the shape of an upstream's targets in the
// configuration, for example
//
//	["http://10.0.0.7:8080", {"url": "http://10.0.0.8:8080", "weight": 3}]
//
// (valid JSON and YAML), or the same as a YAML block list. An empty list
// must be written as []: a file with no content at all is taken for one
// caught half-written (truncated, not yet rewritten) and is an error, since
// reporting it would empty the pool. Files over 8 MiB are refused.
//
// The file's directory is watched rather than the file, because editors and
// tools like Kubernetes' ConfigMap volumes replace a file by renaming another
// over it, which ends a watch on the file itself. Any change in the directory
// leads to a re-read, debounced by about 100 ms so that a file written in
// several steps is read once it is complete. Unchanged contents are not
// reported. The file is also re-read every 30 s, which recovers from changes
// the watch cannot see (the directory itself replaced, an inotify limit
// reached, a network file system).
func File(path string) Source {
	return &fileSource{
		path:     path,
		debounce: 100 * time.Millisecond,
		maxDelay: time.Second,
		poll:     30 * time.Second,
	}
}

type fileSource struct {
	path     string
	debounce time.Duration // quiet time after the last event before re-reading
	maxDelay time.Duration // re-read at the latest this long after the first event, even if events keep coming
	poll     time.Duration // safety-net re-read period
}

func (f *fileSource) Run(ctx context.Context, update func([]Endpoint), onError func(error)) {
	var last []Endpoint
	delivered := false
	reload := func() {
		eps, err := readTargets(f.path)
		if err != nil {
			onError(err)
			return
		}
		if delivered && slices.Equal(eps, last) {
			return
		}
		last, delivered = eps, true
		update(slices.Clone(eps))
	}

	// Watch before the first read, so that a change in between is not missed.
	var (
		events <-chan fsnotify.Event
		errs   <-chan error
	)
	if w, err := watchDir(filepath.Dir(f.path)); err != nil {
		onError(fmt.Errorf("discovery file %s: %w; re-reading every %s instead", f.path, err, f.poll))
	} else {
		defer w.Close()
		events, errs = w.Events, w.Errors
	}

	reload()

	poll := time.NewTicker(f.poll)
	defer poll.Stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var pendingSince time.Time // zero: no re-read pending
	schedule := func() {
		now := time.Now()
		if pendingSince.IsZero() {
			pendingSince = now
		}
		// Wait for the events to stop, but not forever: a directory
		// written to continuously must not starve the re-read.
		timer.Reset(min(f.debounce, max(pendingSince.Add(f.maxDelay).Sub(now), 0)))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			schedule()
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			onError(fmt.Errorf("discovery file %s: watch: %w", f.path, err))
			schedule() // events may have been lost (an inotify queue overflow)
		case <-timer.C:
			pendingSince = time.Time{}
			reload()
		case <-poll.C:
			reload()
		}
	}
}

func watchDir(dir string) (*fsnotify.Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// readTargets reads and validates a targets file.
func readTargets(path string) ([]Endpoint, error) {
	data, err := readLimited(path, maxFileSize)
	if err != nil {
		return nil, fmt.Errorf("discovery file: %w", err)
	}
	var eps []Endpoint
	if strings.EqualFold(filepath.Ext(path), ".json") {
		eps, err = parseJSONTargets(data)
	} else {
		eps, err = parseYAMLTargets(data)
	}
	if err != nil {
		return nil, fmt.Errorf("discovery file %s: %w", path, err)
	}
	return dedup(eps), nil
}

// maxFileSize bounds what is read, as for the configuration file: a targets
// file is small, and a huge one is a mistake that should not exhaust memory.
const maxFileSize = 8 << 20

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d MiB", path, limit>>20)
	}
	return data, nil
}

var errEmptyFile = errors.New("file is empty (write [] for no targets)")

func parseYAMLTargets(data []byte) ([]Endpoint, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, errEmptyFile
	}
	root := doc.Content[0]
	if root.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: want a list of targets", root.Line)
	}
	eps := make([]Endpoint, 0, len(root.Content))
	for i, item := range root.Content {
		var ep Endpoint
		switch item.Kind {
		case yaml.ScalarNode:
			ep.URL = item.Value
		case yaml.MappingNode:
			for j := 0; j+1 < len(item.Content); j += 2 {
				k, v := item.Content[j], item.Content[j+1]
				var err error
				switch k.Value {
				case "url":
					err = v.Decode(&ep.URL)
				case "weight":
					err = v.Decode(&ep.Weight)
				default:
					err = fmt.Errorf("unknown field %q (want url, weight)", k.Value)
				}
				if err != nil {
					return nil, fmt.Errorf("line %d: target %d: %w", k.Line, i, err)
				}
			}
		default:
			return nil, fmt.Errorf("line %d: target %d: want a URL or {url, weight}", item.Line, i)
		}
		ep, err := checkTarget(ep)
		if err != nil {
			return nil, fmt.Errorf("line %d: target %d: %w", item.Line, i, err)
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

func parseJSONTargets(data []byte) ([]Endpoint, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errEmptyFile
	}
	if data[0] != '[' {
		return nil, errors.New("want a JSON array of targets")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, err
	}
	eps := make([]Endpoint, 0, len(items))
	for i, raw := range items {
		var ep Endpoint
		switch raw[0] {
		case '"':
			if err := json.Unmarshal(raw, &ep.URL); err != nil {
				return nil, fmt.Errorf("target %d: %w", i, err)
			}
		case '{':
			var obj struct {
				URL    string `json:"url"`
				Weight int    `json:"weight"`
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&obj); err != nil {
				return nil, fmt.Errorf("target %d: %w", i, err)
			}
			ep = Endpoint{URL: obj.URL, Weight: obj.Weight}
		default:
			return nil, fmt.Errorf("target %d: want a URL or {\"url\": ..., \"weight\": ...}", i)
		}
		ep, err := checkTarget(ep)
		if err != nil {
			return nil, fmt.Errorf("target %d: %w", i, err)
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// checkTarget validates a target read from a file and makes it canonical. A
// weight of 0 (or none) means 1, as in the configuration.
func checkTarget(ep Endpoint) (Endpoint, error) {
	u, err := canonicalURL(ep.URL)
	if err != nil {
		return ep, err
	}
	if ep.Weight < 0 || ep.Weight > maxWeight {
		return ep, fmt.Errorf("weight %d is out of range 1-%d", ep.Weight, maxWeight)
	}
	return Endpoint{URL: u, Weight: max(ep.Weight, 1)}, nil
}
