package config

import (
	"fmt"
	"strconv"
	"strings"
)

// StatusRange is an inclusive range of HTTP statuses; a single status has
// Lo == Hi.
type StatusRange struct{ Lo, Hi int }

// StatusRanges is a set of statuses as written in health.active.expected_status.
type StatusRanges []StatusRange

// Contains reports whether code is in one of the ranges.
func (rs StatusRanges) Contains(code int) bool {
	for _, r := range rs {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

// ParseStatusRanges parses a comma-separated list of statuses and ranges:
// "200-399", "200,204", "200-299, 301, 304". Each status is 100-599 and
// each range is written low-high. Spaces around items are ignored.
func ParseStatusRanges(s string) (StatusRanges, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty; write statuses and ranges, e.g. \"200-399\" or \"200,204\"")
	}
	var out StatusRanges
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("empty item in %q; write statuses and ranges separated by commas, e.g. \"200,204\"", s)
		}
		loText, hiText, isRange := strings.Cut(item, "-")
		lo, err := parseStatus(strings.TrimSpace(loText), item)
		if err != nil {
			return nil, err
		}
		hi := lo
		if isRange {
			if hi, err = parseStatus(strings.TrimSpace(hiText), item); err != nil {
				return nil, err
			}
			if lo > hi {
				return nil, fmt.Errorf("range %q is reversed; write %d-%d", item, hi, lo)
			}
		}
		out = append(out, StatusRange{lo, hi})
	}
	return out, nil
}

func parseStatus(text, item string) (int, error) {
	n, err := strconv.Atoi(text)
	if err != nil || !allDigits(text) {
		return 0, fmt.Errorf("invalid status %q; write statuses and ranges, e.g. \"200-399\" or \"200,204\"", item)
	}
	if n < 100 || n > 599 {
		return 0, fmt.Errorf("status %d is out of range 100-599", n)
	}
	return n, nil
}
