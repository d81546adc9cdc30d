package headerops

import (
	"net/http"
	"reflect"
	"testing"
)

func TestApplyOrder(t *testing.T) {
	ops, err := Compile([]string{"x-remove", "Cookie"}, map[string]string{"x-set": "new", "X-Both": "s"}, map[string]string{"x-add": "a2", "X-Both": "a"})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"X-Remove": {"1"}, "Cookie": {"c"}, "X-Set": {"old1", "old2"}, "X-Add": {"a1"}, "X-Keep": {"k"}}
	ops.Apply(h)
	want := http.Header{"X-Set": {"new"}, "X-Add": {"a1", "a2"}, "X-Both": {"s", "a"}, "X-Keep": {"k"}}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got %v, want %v", h, want)
	}
	// The shared value slices are never written through.
	h["X-Set"] = append(h["X-Set"], "more")
	h2 := http.Header{}
	ops.Apply(h2)
	if !reflect.DeepEqual(h2["X-Set"], []string{"new"}) {
		t.Fatalf("compiled value modified: %v", h2["X-Set"])
	}
	if !ops.Removes("Cookie") || !ops.Removes("X-Set") || ops.Removes("X-Add") {
		t.Error("Removes")
	}
	if (&Ops{}).Empty() != true || ops.Empty() {
		t.Error("Empty")
	}
}

func TestCompileRejects(t *testing.T) {
	for name, c := range map[string]struct {
		remove   []string
		set, add map[string]string
	}{
		"bad name":     {remove: []string{"X Y"}},
		"empty name":   {set: map[string]string{"": "v"}},
		"CRLF value":   {set: map[string]string{"X": "a\r\nSet-Cookie: x"}},
		"NUL value":    {add: map[string]string{"X": "a\x00"}},
		"colon in key": {add: map[string]string{"X:Y": "v"}},
	} {
		if _, err := Compile(c.remove, c.set, c.add); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func BenchmarkApply(b *testing.B) {
	ops, _ := Compile([]string{"Cookie"}, map[string]string{"X-Api-Version": "3"}, map[string]string{"X-Tag": "gw"})
	h := http.Header{}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		clear(h)
		ops.Apply(h)
	}
}
