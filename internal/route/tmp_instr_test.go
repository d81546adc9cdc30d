package route

import (
	"os"
	"strconv"
	"testing"
)

func TestTmpInstr(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("ROUTE_N"))
	iters, _ := strconv.Atoi(os.Getenv("ROUTE_ITERS"))
	which, _ := strconv.Atoi(os.Getenv("ROUTE_REQ"))
	if n == 0 {
		t.Skip()
	}
	tab := mustCompile(t, benchSpecs(n))
	reqs := benchRequests()
	if which >= 0 {
		reqs = reqs[which : which+1]
	}
	var m Match
	for i := 0; i < iters; i++ {
		for _, r := range reqs {
			tab.Match(r, &m)
		}
	}
}
