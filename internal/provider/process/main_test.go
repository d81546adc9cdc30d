package process

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the backend: with childEnv set it runs one of
// the modes below instead of the tests, and tests start os.Args[0].
const childEnv = "FG_PROCESS_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	os.Exit(m.Run())
}

func runChild(mode string) int {
	port := os.Getenv("PORT")
	for _, a := range os.Args[1:] {
		if p, ok := strings.CutPrefix(a, "--port="); ok {
			port = p
		}
	}
	switch mode {
	case "exit1":
		fmt.Fprintln(os.Stderr, "exiting at once")
		return 1
	case "slow":
		time.Sleep(5 * time.Second)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
	case "chatty":
		fmt.Println("hello stdout")
		fmt.Fprintln(os.Stderr, "hello stderr")
		fmt.Println(strings.Repeat("x", 10000))
		fmt.Println("after long line")
	case "supervisor":
		return runSupervisor()
	case "normal":
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		return 2
	}
	if mode != "ignore-term" {
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		go func() { <-term; os.Exit(0) }()
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d %s", os.Getpid(), os.Getenv("FG_VERSION"))
	})
	http.Serve(l, mux)
	return 4
}

// runSupervisor starts two instances, prints their PIDs and waits to be
// killed: the orphan test kills it with SIGKILL.
func runSupervisor() int {
	exe, err := os.Executable()
	if err != nil {
		return 5
	}
	spec := testSpec("normal")
	spec.Command = exe
	svc, err := New(spec, Options{})
	if err != nil {
		return 6
	}
	svc.SetDesired(2)
	for deadline := time.Now().Add(10 * time.Second); svc.Status().Ready < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return 7
		}
	}
	var pids []string
	for _, in := range svc.Instances() {
		pids = append(pids, fmt.Sprint(in.PID))
	}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(w, "PIDS", strings.Join(pids, " "))
	w.Flush()
	time.Sleep(time.Minute) // killed long before
	return 8
}

// testSpec runs the test binary in mode.
func testSpec(mode string) Spec {
	return Spec{
		Name:      "svc",
		Command:   os.Args[0],
		Env:       []string{childEnv + "=" + mode},
		Ready:     Probe{Path: "/healthz", Interval: 20 * time.Millisecond, Deadline: 10 * time.Second},
		StopGrace: 3 * time.Second,
	}
}
