package jwt

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestJSONParser(t *testing.T) {
	good := []string{
		`{}`, ` { } `, `{"a":1}`, `{"a":[1,2,{"b":null}],"c":true,"d":false,"e":"x"}`,
		`{"s":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`, `{"n":-0.5e+10}`, `{"n":0}`, `{"n":-0}`, `{"u":"żółw"}`,
		"{\"a\"\t:\r\n1}", `{"a":[]}`, `{"a":[[[]]]}`,
	}
	bad := []string{
		``, ` `, `[]`, `"x"`, `1`, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `{"a":1 "b":2}`,
		`{"a":1}x`, `{"a":1}{}`, `{'a':1}`, `{a:1}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":+1}`,
		`{"a":-}`, `{"a":tru}`, `{"a":nul}`, `{"a":True}`, `{"a":NaN}`, `{"a":Infinity}`, `{"a":[1,]}`, `{"a":[1 2]}`,
		`{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\ud800"}`, `{"a":"\udc00"}`, `{"a":"\ud800\u0041"}`, "{\"a\":\"\x01\"}",
		"{\"a\":\"\xff\"}", "{\"\xc3\":1}", `{"a":1,"a":2}`, `{"a":{"b":1,"b":1}}`, `{"a":"unterminated}`,
		`{"a":` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}`,
	}
	for _, s := range good {
		got, err := parseJSONObject([]byte(s))
		if err != nil {
			t.Errorf("%q refused: %v", s, err)
			continue
		}
		var want map[string]any
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		if err := d.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %#v, want %#v", s, got, want)
		}
	}
	for _, s := range bad {
		if v, err := parseJSONObject([]byte(s)); err == nil {
			t.Errorf("%q accepted: %#v", s, v)
		}
	}
}

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		in      string
		alg     string
		kid     string
		hasKID  bool
		wantErr error
	}{
		{`{"alg":"RS256"}`, "RS256", "", false, nil},
		{`{"typ":"JWT","alg":"ES256","kid":"k1","x5c":["a"],"jwk":{"kty":"RSA"}}`, "ES256", "k1", true, nil},
		{`{"alg":"RS256","kid":""}`, "RS256", "", false, nil},
		{`{"alg":"R\u0053256"}`, "RS256", "", false, nil},
		{`{"alg":"XX"}`, "?", "", false, nil},
		{`{"alg":"none"}`, "none", "", false, nil},
		{`{}`, "", "", false, errNoAlg},
		{`{"alg":null}`, "", "", false, errAlgType},
		{`{"alg":"RS256","kid":["a"]}`, "", "", false, errKidType},
		{`{"alg":"RS256","crit":[]}`, "", "", false, errCrit},
		{`{"alg":"RS256","alg":"RS256"}`, "", "", false, errHeaderJSON},
		{`{"alg":"RS256","x":1,"x":2}`, "", "", false, errHeaderJSON},
		{`{"alg":"RS256",}`, "", "", false, errHeaderJSON},
		{`{"alg":"RS256"} x`, "", "", false, errHeaderJSON},
	} {
		h, err := parseHeader([]byte(tc.in))
		if err != tc.wantErr || (err == nil && (h.alg != tc.alg || h.kid != tc.kid || h.hasKID != tc.hasKID)) {
			t.Errorf("%s: got %+v, %v", tc.in, h, err)
		}
	}
}

// FuzzJSON checks the strict parser against encoding/json: whatever it
// accepts, encoding/json accepts with the same result; and whatever
// encoding/json accepts as an object, it accepts too, unless there are
// duplicate keys, invalid UTF-8, \u escapes (lone surrogates) or deep
// nesting, which it refuses on purpose.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":[1,{"b":"\u00e9"}],"c":null}`, `{"n":-1.5e3}`, `{"a":"\ud83d\ude00"}`, `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseJSONObject(b)
		var want map[string]any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		stdErr := d.Decode(&want)
		if stdErr == nil && len(bytes.TrimLeft(b[d.InputOffset():], " \t\r\n")) > 0 {
			stdErr = errJSON // trailing data
		}
		if err == nil {
			if stdErr != nil {
				t.Fatalf("accepted %q, encoding/json: %v", b, stdErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%q: got %#v, encoding/json %#v", b, got, want)
			}
			return
		}
		if stdErr == nil && utf8.Valid(b) && !bytes.Contains(b, []byte(`\u`)) && bytes.Count(b, []byte("{"))+bytes.Count(b, []byte("[")) < maxJSONDepth && !hasDupKeys(b) {
			t.Fatalf("refused %q (%v), encoding/json accepts it", b, err)
		}
	})
}

// hasDupKeys reports whether an object anywhere in b repeats a key (read
// with encoding/json's tokenizer, which does not mind).
func hasDupKeys(b []byte) bool {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	type frame struct {
		obj     bool
		keys    map[string]bool
		wantKey bool
	}
	var st []*frame
	valueDone := func() {
		if len(st) > 0 && st[len(st)-1].obj {
			st[len(st)-1].wantKey = true
		}
	}
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		if n := len(st); n > 0 && st[n-1].obj && st[n-1].wantKey {
			if tok == json.Delim('}') {
				st = st[:n-1]
				valueDone()
				continue
			}
			k, _ := tok.(string)
			if st[n-1].keys[k] {
				return true
			}
			st[n-1].keys[k] = true
			st[n-1].wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			st = append(st, &frame{obj: true, keys: map[string]bool{}, wantKey: true})
		case json.Delim('['):
			st = append(st, &frame{})
		case json.Delim(']'), json.Delim('}'):
			st = st[:len(st)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}
