package process

import (
	"bufio"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// outputBuffer is how many lines may wait for a slow logger; beyond it lines
// are dropped (and counted) rather than letting the child block on a full
// pipe.
const outputBuffer = 256

// drainWait bounds how long, after the process exited, the readers may keep
// reading: a grandchild that inherited the pipe would hold it open forever.
const drainWait = time.Second

type line struct {
	stream    string
	text      string
	truncated bool
}

// output captures one process's stdout and stderr: a reader goroutine per
// stream splits lines into a bounded channel without ever blocking on the
// logger; one writer goroutine logs them.
type output struct {
	files   []*os.File
	lines   chan line
	readers sync.WaitGroup
	written chan struct{}
	dropped atomic.Int64
}

func startOutput(log *slog.Logger, maxLine int, stdout, stderr *os.File) *output {
	o := &output{
		files:   []*os.File{stdout, stderr},
		lines:   make(chan line, outputBuffer),
		written: make(chan struct{}),
	}
	o.readers.Add(2)
	go o.read(stdout, "stdout", maxLine)
	go o.read(stderr, "stderr", maxLine)
	go o.write(log)
	return o
}

func (o *output) read(f *os.File, stream string, maxLine int) {
	defer o.readers.Done()
	br := bufio.NewReaderSize(f, maxLine)
	for {
		b, more, err := br.ReadLine()
		if err != nil {
			return
		}
		l := line{stream: stream, text: string(b), truncated: more}
		for more && err == nil { // drop the rest of an over-long line
			_, more, err = br.ReadLine()
		}
		if l.text != "" || l.truncated {
			select {
			case o.lines <- l:
			default:
				o.dropped.Add(1)
			}
		}
		if err != nil {
			return
		}
	}
}

func (o *output) write(log *slog.Logger) {
	defer close(o.written)
	report := func() {
		if n := o.dropped.Swap(0); n > 0 {
			log.Warn("output lines dropped: logger too slow", "dropped", n)
		}
	}
	for l := range o.lines {
		report()
		if l.truncated {
			log.Info(l.text, "stream", l.stream, "truncated", true)
		} else {
			log.Info(l.text, "stream", l.stream)
		}
	}
	report()
}

// finish is called after the process exited. It lets the readers reach EOF
// (bounded by drainWait), then closes the pipes and waits until every
// buffered line has been logged.
func (o *output) finish() {
	done := make(chan struct{})
	go func() { o.readers.Wait(); close(done) }()
	t := time.NewTimer(drainWait)
	select {
	case <-done:
	case <-t.C:
	}
	t.Stop()
	for _, f := range o.files {
		f.Close() // unblocks a reader still waiting on a pipe held by a grandchild
	}
	<-done
	close(o.lines)
	<-o.written
}
