// Command loadgen is the load generator of the Floodgate benchmarks, for what
// wrk cannot do. Subcommands:
//
//	loadgen rate  -addr HOST:PORT -rate R -duration D [-warmup W] [-conns C]
//	    Open-loop, coordinated-omission-safe latency measurement: request i is
//	    due at start + i/R, whatever happened to earlier requests, and its
//	    latency is measured from that scheduled time, not from when it was
//	    actually written. Requests go out on a pool of C keep-alive HTTP/1.1
//	    connections (raw HTTP/1.1 on non-blocking sockets, one request in
//	    flight per connection); when no connection is free the request waits
//	    in a FIFO and that wait counts in its latency, so a stalled server
//	    shows up in the percentiles instead of silently lowering the offered
//	    rate. A single-threaded epoll loop with nanosecond timeouts (see
//	    rate.go). Every sample is kept and sorted: exact percentiles. Prints
//	    one line of key=value pairs: rate requests measured ok errors non200
//	    timeouts reconnects achieved_rps p50_us p90_us p99_us p999_us max_us
//	    mean_us late_p50_us late_p99_us late_max_us (late_* is how late the
//	    generator itself sent requests: its own error floor). -timer-slack
//	    (default 1ns) trades that precision for fewer wake-ups.
//
//	loadgen hold  -addr HOST:PORT -n N [-srcs K]
//	    Opens N connections (spread over the source addresses 127.0.0.1 ..
//	    127.0.0.K so ephemeral ports cannot run out; by default one address
//	    per 8000 connections), sends one request on each and reads the
//	    response, then keeps them all open and idle. Prints
//	    "READY opened=N failed=F" when done and holds until SIGTERM/SIGINT or
//	    -max-hold.
//
//	loadgen get URL
//	    One GET; prints the body on stdout; exit status 0 only for a 200.
//
//	loadgen ports N
//	    Prints N distinct free TCP ports on 127.0.0.1.
//
// Only the standard library is used.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func usage() {
	fmt.Fprintln(os.Stderr, `usage: loadgen rate|hold|get|ports [flags]   (loadgen SUBCOMMAND -h for flags)`)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	args := os.Args[2:]
	var err error
	switch os.Args[1] {
	case "rate":
		err = runRate(args)
	case "hold":
		err = runHold(args)
	case "get":
		err = runGet(args)
	case "ports":
		err = runPorts(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen "+os.Args[1]+":", err)
		os.Exit(1)
	}
}

func runGet(args []string) error {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	timeout := fs.Duration("timeout", 2*time.Second, "request timeout")
	fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("usage: loadgen get [-timeout D] URL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", fs.Arg(0), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	os.Stdout.Write(body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: status %s", fs.Arg(0), resp.Status)
	}
	return nil
}

func runPorts(args []string) error {
	n := 1
	if len(args) == 1 {
		var err error
		if n, err = strconv.Atoi(args[0]); err != nil || n <= 0 {
			return errors.New("usage: loadgen ports N")
		}
	}
	var ls []net.Listener
	var ports []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	for _, l := range ls {
		l.Close()
	}
	fmt.Println(strings.Join(ports, " "))
	return nil
}
