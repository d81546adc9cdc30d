package process

import (
	"os/exec"
	"runtime"
	"sync"
)

// Pdeathsig (set on every instance) is delivered when the OS thread that
// forked the child exits, not when the Floodgate process exits
// (golang/go#27505). Go retires threads at will — for example when a
// goroutine that called runtime.LockOSThread returns without unlocking — so
// a child forked from an arbitrary goroutine could be SIGKILLed while
// Floodgate is healthy. Every instance is therefore forked by one spawner
// goroutine that locks its OS thread and never returns: that thread lives
// exactly as long as the process, so Pdeathsig means "Floodgate died".
//
// This is the package's only global state: a thread that must outlive every
// Service cannot belong to one. It is started on first use and is shared by
// all Services.
var (
	spawnerOnce sync.Once
	spawnReqs   chan spawnReq
)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// spawn runs cmd.Start on the spawner thread. cmd must not need goroutines
// of its own (stdio are *os.File or nil, no Context): Start then only forks
// and execs.
func spawn(cmd *exec.Cmd) error {
	spawnerOnce.Do(func() {
		spawnReqs = make(chan spawnReq)
		go spawnLoop(spawnReqs)
	})
	r := spawnReq{cmd: cmd, done: make(chan error, 1)}
	spawnReqs <- r
	return <-r.done
}

// spawnLoop never returns and never unlocks its thread; see above.
func spawnLoop(reqs <-chan spawnReq) {
	runtime.LockOSThread()
	for r := range reqs {
		r.done <- r.cmd.Start()
	}
	select {} // unreachable: reqs is never closed; returning would kill the thread
}
