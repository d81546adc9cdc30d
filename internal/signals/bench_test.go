package signals

import (
	"sync/atomic"
	"testing"
	"time"
)

func BenchmarkStartDone(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		r, _ := New(Config{})
		t := time.Now().UnixNano()
		b.ReportAllocs()
		for b.Loop() {
			t += 50
			r.Start(t)
			r.Done(t, t+1000)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		r, _ := New(Config{})
		base := time.Now().UnixNano()
		var id atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			t := base + id.Add(1)*7
			for pb.Next() {
				t += 50
				r.Start(t)
				r.Done(t, t+1000)
			}
		})
	})
	b.Run("parallel-1stripe", func(b *testing.B) {
		r, _ := New(Config{Stripes: 1})
		base := time.Now().UnixNano()
		var id atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			t := base + id.Add(1)*7
			for pb.Next() {
				t += 50
				r.Start(t)
				r.Done(t, t+1000)
			}
		})
	})
}

func BenchmarkSnapshot(b *testing.B) {
	r, _ := New(Config{})
	now := time.Now().UnixNano()
	for t := now - 70*int64(time.Second); t < now; t += int64(time.Millisecond) {
		r.Start(t)
		r.Done(t, t+int64(time.Millisecond)/2)
	}
	at := time.Unix(0, now)
	for _, w := range []time.Duration{6 * time.Second, 60 * time.Second} {
		b.Run(w.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Snapshot(at, w)
			}
		})
	}
}

func BenchmarkReadProc(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadProc(1); err != nil {
			b.Skip(err)
		}
	}
}
