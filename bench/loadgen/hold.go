package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func runHold(args []string) error {
	fs := flag.NewFlagSet("hold", flag.ExitOnError)
	addr := fs.String("addr", "", "server host:port (required)")
	path := fs.String("path", "/", "request path")
	n := fs.Int("n", 10000, "connections to open and hold")
	srcs := fs.Int("srcs", 0, "source addresses 127.0.0.1..127.0.0.K to spread connections over (0: one per 8000 connections)")
	concurrency := fs.Int("concurrency", 128, "connections being set up at once")
	timeout := fs.Duration("timeout", 10*time.Second, "per-connection connect+request timeout")
	maxHold := fs.Duration("max-hold", 5*time.Minute, "exit after holding this long")
	fs.Parse(args)
	if *addr == "" || *n <= 0 {
		return errors.New("need -addr and a positive -n")
	}
	if *srcs <= 0 {
		*srcs = (*n + 7999) / 8000
	}
	if *srcs > 250 {
		return errors.New("-srcs at most 250")
	}
	req := buildRequest(*addr, *path)
	held := make([]net.Conn, *n)
	var failed atomic.Int64
	var errMu sync.Mutex
	firstErr := ""
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				d := net.Dialer{Timeout: *timeout}
				if *srcs > 1 { // an explicit bind() takes ports more greedily than connect()'s own choice
					d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%*srcs))}
				}
				nc, err := d.Dial("tcp", *addr)
				if err == nil {
					nc.SetDeadline(time.Now().Add(*timeout))
					if _, err = nc.Write(req); err == nil {
						var status int
						status, _, err = readResponse(bufio.NewReaderSize(nc, 1024))
						if err == nil && status != 200 {
							err = fmt.Errorf("status %d", status)
						}
					}
					nc.SetDeadline(time.Time{})
					if err != nil {
						nc.Close()
					}
				}
				if err != nil {
					failed.Add(1)
					errMu.Lock()
					if firstErr == "" {
						firstErr = err.Error()
					}
					errMu.Unlock()
					continue
				}
				held[i] = nc
			}
		}()
	}
	for i := 0; i < *n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	opened := int64(*n) - failed.Load()
	if firstErr != "" {
		fmt.Fprintf(os.Stderr, "loadgen hold: %d connections failed; first error: %s\n", failed.Load(), firstErr)
	}
	fmt.Printf("READY opened=%d failed=%d\n", opened, failed.Load())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case <-time.After(*maxHold):
	}
	runtime.KeepAlive(held)
	return nil
}
