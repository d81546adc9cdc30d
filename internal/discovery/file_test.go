package discovery

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes content the way editors and atomic writers do: to a
// temporary file, renamed over path.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestParseTargets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file, content string
		want                []Endpoint
		err                 string
	}{
		{name: "yaml block", file: "t.yaml", content: "# pool\n- http://10.0.0.7:8080\n- url: https://Host\n  weight: 3\n",
			want: []Endpoint{{"http://10.0.0.7:8080", 1}, {"https://host:443", 3}}},
		{name: "yaml flow", file: "t.yml", content: `["http://b:1", {url: "http://a:1", weight: 2}]`,
			want: []Endpoint{{"http://a:1", 2}, {"http://b:1", 1}}},
		{name: "yaml empty list", file: "t.yaml", content: "[]\n", want: []Endpoint{}},
		{name: "yaml duplicates", file: "t.yaml", content: "- http://a:1\n- {url: 'http://A:1', weight: 4}\n",
			want: []Endpoint{{"http://a:1", 4}}},
		{name: "json", file: "t.json", content: "[\n\t\"http://[2001:db8::1]:80\",\n\t{\"url\": \"http://a:1\", \"weight\": 0}\n]\n",
			want: []Endpoint{{"http://[2001:db8::1]:80", 1}, {"http://a:1", 1}}},
		{name: "json empty list", file: "t.JSON", content: " [ ] ", want: []Endpoint{}},
		{name: "no extension is yaml", file: "targets", content: "- http://a:1", want: []Endpoint{{"http://a:1", 1}}},

		{name: "yaml empty", file: "t.yaml", content: "", err: "empty"},
		{name: "yaml comments only", file: "t.yaml", content: "# nothing\n", err: "empty"},
		{name: "yaml syntax", file: "t.yaml", content: "- http://a:1\n  - [", err: "yaml"},
		{name: "yaml not a list", file: "t.yaml", content: "targets: []", err: "expected a list of targets"},
		{name: "yaml bad url", file: "t.yaml", content: "- http://a:1\n- a:1", err: `:2: [1].url: "a:1" has no scheme`},
		{name: "yaml unknown field", file: "t.yaml", content: "- {url: http://a:1, wieght: 2}", err: `unknown field "wieght"`},
		{name: "yaml bad weight", file: "t.yaml", content: "- {url: http://a:1, weight: heavy}", err: `[0].weight: expected an integer, got "heavy"`},
		{name: "yaml weight range", file: "t.yaml", content: "- {url: http://a:1, weight: 1000001}", err: "out of range"},
		{name: "yaml negative weight", file: "t.yaml", content: "- {url: http://a:1, weight: -1}", err: "out of range"},
		{name: "yaml nested list", file: "t.yaml", content: "- [http://a:1]", err: "[0]: expected a URL or a mapping with url and weight"},
		{name: "json empty", file: "t.json", content: "\n", err: "empty"},
		{name: "json truncated", file: "t.json", content: `["http://a:1",`, err: ":2: did not find expected node content"},
		{name: "json object", file: "t.json", content: `{"targets": []}`, err: "expected a list of targets"},
		{name: "json null", file: "t.json", content: `null`, err: "file is empty"},
		{name: "json unknown field", file: "t.json", content: `[{"url": "http://a:1", "w": 1}]`, err: "unknown field"},
		{name: "json number item", file: "t.json", content: `[1]`, err: `[0].url: "1" has no scheme`},
		{name: "json trailing", file: "t.json", content: `[] []`, err: "did not find expected <document start>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			writeFile(t, path, tc.content)
			got, err := readTargets(path)
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("got %v, %v; want an error containing %q", got, err, tc.err)
			case tc.err != "":
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name the file", err)
				}
			case err != nil || !slices.Equal(got, tc.want):
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestFileChanges(t *testing.T) {
	t.Parallel()
	for _, ext := range []string{"yaml", "json"} {
		t.Run(ext, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "targets."+ext)
			writeFile(t, path, `["http://a:1", {"url": "http://b:1", "weight": 2}]`)
			src := File(path) // with its real timings for YAML
			if ext == "json" {
				src = &fileSource{path: path, debounce: 10 * time.Millisecond, maxDelay: time.Second, poll: time.Hour}
			}
			r := run(t, src)
			got := r.waitList(wait, "http://a:1", "http://b:1")
			if got[1].Weight != 2 {
				t.Errorf("b has weight %d, want 2", got[1].Weight)
			}

			// Rewritten in place.
			writeFile(t, path, `["http://c:1"]`)
			r.waitList(wait, "http://c:1")

			// Replaced by rename, as editors do.
			replaceFile(t, path, `["http://d:1", "http://c:1"]`)
			r.waitList(wait, "http://c:1", "http://d:1")

			// Invalid: reported, and the last list stays.
			n := len(r.updates())
			replaceFile(t, path, `["http://d:1", "d:1"]`)
			r.waitErr(wait, "no scheme")
			writeFile(t, path, `["http://e:1"]`)
			r.waitList(wait, "http://e:1")

			// Removed: reported, the last list stays; recreated: read again.
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			r.waitErr(wait, "no such file")
			writeFile(t, path, `["http://f:1"]`)
			r.waitList(wait, "http://f:1")

			// The same contents written again are not reported (the
			// recorder fails on unchanged lists); a change afterwards is.
			writeFile(t, path, `["http://f:1"]`)
			writeFile(t, path, `["http://g:1"]`)
			r.waitList(wait, "http://g:1")

			r.stop()
			// c; c,d; e; f; g — nothing from the invalid or removed file.
			if ups := r.updates()[n:]; len(ups) != 3 {
				t.Errorf("updates after the invalid file: %v, want e, f, g", ups)
			}
		})
	}
}

// Several writes in quick succession are read once they stop.
func TestFileDebounce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "targets.yaml")
	writeFile(t, path, "- http://a:1\n")
	src := &fileSource{path: path, debounce: 500 * time.Millisecond, maxDelay: 5 * time.Second, poll: time.Hour}
	r := run(t, src)
	r.waitList(wait, "http://a:1")
	// A file written in pieces: invalid on its own until complete.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"- http://b:1\n", "- http://c", ":1\n"} {
		if _, err := f.WriteString(part); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	r.waitList(wait, "http://b:1", "http://c:1")
	if errs := r.errors(); len(errs) != 0 {
		t.Errorf("errors from a partly written file: %v", errs)
	}
}

// Without a watch (here: the directory does not exist yet), the periodic
// re-read still finds the file.
func TestFilePoll(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "later")
	path := filepath.Join(dir, "targets.yaml")
	src := &fileSource{path: path, debounce: 10 * time.Millisecond, maxDelay: time.Second, poll: 50 * time.Millisecond}
	r := run(t, src)
	r.waitErr(wait, "re-reading every")
	r.waitErr(wait, "no such file")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "- http://a:1\n")
	r.waitList(wait, "http://a:1")
}

// Events keep a re-read pending for at most maxDelay.
func TestFileBusyDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "targets.yaml")
	writeFile(t, path, "- http://a:1\n")
	src := &fileSource{path: path, debounce: 100 * time.Millisecond, maxDelay: 300 * time.Millisecond, poll: time.Hour}
	r := run(t, src)
	r.waitList(wait, "http://a:1")
	writeFile(t, path, "- http://b:1\n")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // another file in the directory, written every 20 ms
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				os.WriteFile(filepath.Join(dir, "noise"), []byte("x"), 0o644)
			}
		}
	}()
	defer func() {
		close(stop)
		<-done
	}()
	r.waitList(wait, "http://b:1")
}

// A FIFO (or a directory, a device) in place of the targets file is refused
// at once instead of blocking the reader forever.
func TestReadTargetsNotRegular(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.yaml")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := readTargets(path)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("FIFO: %v; want not a regular file", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO blocked")
	}
}
