package route

import (
	"fmt"
	"testing"
)

func BenchmarkPerReq(b *testing.B) {
	for _, n := range []int{10, 10000} {
		tab := mustCompile(b, benchSpecs(n))
		for i, r := range benchRequests() {
			b.Run(fmt.Sprintf("r%d/n=%d", i, n), func(b *testing.B) {
				var m Match
				for b.Loop() {
					tab.Match(r, &m)
				}
			})
		}
	}
}
