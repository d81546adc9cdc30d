package route

import (
	"testing"
)

func probeStats[V comparable](t *strTable[V]) (avg float64, maxp int, n int) {
	if t.slots == nil {
		return
	}
	var zero V
	total := 0
	for i, sl := range t.slots {
		if sl.val == zero {
			continue
		}
		home := sl.h & t.mask
		d := int((uint64(i) - home) & t.mask)
		total += d + 1
		maxp = max(maxp, d+1)
		n++
	}
	return float64(total) / float64(n), maxp, n
}

func TestTmpProbe(t *testing.T) {
	tab := mustCompile(t, benchSpecs(10000))
	a, m, n := probeStats(&tab.exact)
	t.Logf("hosts: avg %.2f max %d n %d size %d", a, m, n, len(tab.exact.slots))
	api := tab.exact.get("api.example.com")
	a, m, n = probeStats(&api.paths.kids)
	t.Logf("api root: avg %.2f max %d n %d size %d", a, m, n, len(api.paths.kids.slots))
	v1 := api.paths.kids.get("v1")
	a, m, n = probeStats(&v1.kids)
	t.Logf("v1: avg %.2f max %d n %d size %d", a, m, n, len(v1.kids.slots))
}
