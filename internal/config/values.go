package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time span written with a unit, as Go's time.ParseDuration
// accepts: "250ms", "10s", "1m30s". A bare number is rejected because its
// unit would be a guess. Negative durations are rejected.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes the duration back in its textual form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText lets JSON output (admin /config) show "10s" rather than nanoseconds.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// ParseDuration parses a Duration with the rules above.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration; write it with a unit, e.g. 10s or 250ms")
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil && s != "0" {
		return 0, fmt.Errorf("duration %q has no unit; write e.g. %ss or %sms", s, s, s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q; write it with a unit, e.g. 10s, 1m30s or 250ms", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return Duration(v), nil
}

// ByteSize is a number of bytes, written as an integer or with a unit:
// "512", "64KB", "32KiB", "10MB", "1MiB", "2GB". KB/MB/GB are powers of 1000,
// KiB/MiB/GiB powers of 1024 (units are case-insensitive).
type ByteSize int64

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalYAML writes the size as a plain integer.
func (b ByteSize) MarshalYAML() (any, error) { return int64(b), nil }

var byteUnits = []struct {
	suffix string
	mult   int64
}{ // longest suffixes first so "KiB" is not read as "B"
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
	{"b", 1},
}

// ParseByteSize parses a ByteSize with the rules above.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, fmt.Errorf("empty size; write bytes (1048576) or with a unit (1MiB, 64KB)")
	}
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid size %q; write bytes (1048576) or with a unit (1MiB, 64KB)", s)
	}
	if f < 0 {
		return 0, fmt.Errorf("size %q is negative", s)
	}
	v := f * float64(mult)
	if v > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	if v != math.Trunc(v) {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
	}
	return ByteSize(v), nil
}

// Percent is a share written with a percent sign, "20%" or "12.5%" (a bare
// 0 is allowed). It is held as a fraction: 0.2. Bare numbers are refused:
// whether 0.5 means half or half a percent is a guess nobody should make.
type Percent float64

// UnmarshalYAML implements yaml.Unmarshaler.
func (p *Percent) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParsePercent(n.Value)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalText writes "20%". The fraction is rounded to nine decimals of a
// percent, so that 7% (0.07, which times 100 is 7.000000000000001 in
// floating point) prints as it was written.
func (p Percent) MarshalText() ([]byte, error) {
	pct := math.Round(float64(p)*100*1e9) / 1e9
	return []byte(strconv.FormatFloat(pct, 'f', -1, 64) + "%"), nil
}

// ParsePercent parses a Percent: "20%", "12.5%", "20 %" or a bare 20 (a
// number of percent, not a fraction: 0.5 is half a percent). Limits 0-100.
// The syntax is the schema's percentPattern: digits with an optional decimal
// part, so exponents, hexadecimal, "inf" and signs, which strconv would
// accept, are refused.
func ParsePercent(s string) (Percent, error) {
	t := strings.TrimSpace(s)
	hasSign := strings.HasSuffix(t, "%")
	t = strings.TrimSpace(strings.TrimSuffix(t, "%"))
	neg := strings.HasPrefix(t, "-")
	if !isDecimal(strings.TrimPrefix(t, "-")) {
		return 0, fmt.Errorf("invalid percentage %q; write e.g. 20%%", s)
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || neg || f > 100 {
		return 0, fmt.Errorf("percentage %q is outside 0%%-100%%", s)
	}
	if !hasSign && f != 0 {
		// A bare number is ambiguous (is 0.5 half, or half a percent?):
		// only the explicit form is accepted.
		return 0, fmt.Errorf("percentage %q needs a %% sign: write %s%%", s, t)
	}
	return Percent(f / 100), nil
}

// isDecimal reports whether s is digits with an optional fractional part:
// "20", "12.5", not "", ".5", "5." or "1e2".
func isDecimal(s string) bool {
	intPart, frac, hasFrac := strings.Cut(s, ".")
	return allDigits(intPart) && (!hasFrac || allDigits(frac))
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
