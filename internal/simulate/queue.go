package simulate

// This file holds the engine's two containers: a binary min-heap of timed
// events (completions and readiness) and the gateway's FIFO queue. Both are
// hand-written on slices of structs: container/heap would box every event
// in an interface, which costs an allocation per request.

// event is a completion (lat ≥ 0: the request's latency, known when it is
// dispatched) or an instance becoming ready (lat < 0). 16 bytes, so that
// four children share a cache line in the 4-ary heap.
type event struct {
	t    float64 // when, seconds since t = 0
	lat  float32 // completion: latency in seconds; readiness: -1
	inst int32
}

func (e event) ready() bool { return e.lat < 0 }

// eventHeap is a 4-ary min-heap ordered by t: half the levels of a binary
// heap, and the children of a node are adjacent in memory. It holds one
// event per request in service, so pop is on the per-request path.
type eventHeap []event

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 4
		if s[p].t <= e.t {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = e
}

func (h *eventHeap) pop() event {
	s := *h
	top := s[0]
	n := len(s) - 1
	last := s[n]
	s = s[:n]
	*h = s
	if n == 0 {
		return top
	}
	i := 0
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		// The smallest of up to four children.
		m := c
		for j := c + 1; j < min(c+4, n); j++ {
			if s[j].t < s[m].t {
				m = j
			}
		}
		if last.t <= s[m].t {
			break
		}
		s[i] = s[m]
		i = m
	}
	s[i] = last
	return top
}

// waiting is a request in the gateway's queue. Its service time is drawn
// at arrival so that every policy serves the same request in the same time
// (common random numbers make the comparison less noisy).
type waiting struct {
	arr, svc float64
}

// fifo is a growable ring buffer.
type fifo struct {
	buf  []waiting
	head int
	n    int
}

func (q *fifo) push(w waiting) {
	if q.n == len(q.buf) {
		nb := make([]waiting, max(16, 2*len(q.buf)))
		for i := 0; i < q.n; i++ {
			nb[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = nb, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = w
	q.n++
}

func (q *fifo) front() waiting { return q.buf[q.head] }

func (q *fifo) pop() waiting {
	w := q.buf[q.head]
	q.head++
	if q.head == len(q.buf) {
		q.head = 0
	}
	q.n--
	return w
}
