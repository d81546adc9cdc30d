package discovery

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/floodgate/floodgate/internal/config"
)

// File returns a source that reads its endpoints from a file: YAML (JSON is
// valid YAML) holding a list whose items are URL strings or {url, weight}
// objects, the shape of an upstream's targets in the configuration, read by
// the configuration's own reader (config.ReadTargets, the same rules and
// messages as at load time), for example
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

// readTargets reads and validates a targets file with the configuration's
// own reader (config.ReadTargets: the rules, limits and messages that
// `floodgate validate` applies to it at load time), then makes the URLs
// canonical.
func readTargets(path string) ([]Endpoint, error) {
	ts, err := config.ReadTargets(path)
	if err != nil {
		return nil, fmt.Errorf("discovery file: %w", err) // config.Errors name the file and line
	}
	eps := make([]Endpoint, 0, len(ts))
	for i, t := range ts {
		u, err := canonicalURL(t.URL)
		if err != nil {
			return nil, fmt.Errorf("discovery file %s: target %d: %w", path, i, err)
		}
		eps = append(eps, Endpoint{URL: u, Weight: max(t.Weight, 1)}) // 0 (or none) means 1, as in the configuration
	}
	return dedup(eps), nil
}
