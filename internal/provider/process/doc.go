// Package process is the local-process provider: it supervises the
// instances of a managed service as child processes of Floodgate.
//
// # Lifecycle
//
// A Service is created from a Spec with New and holds no instances until
// SetDesired. Each instance is one goroutine that runs successive processes:
//
//	Starting ──probe ok──▶ Ready ──stop──▶ Stopping ──▶ (gone)
//	    │                    │
//	    │ exit / deadline    │ unexpected exit
//	    ▼                    ▼
//	  Failed ◀─back-off─▶ Exited ──back-off──▶ Starting (restarts+1)
//
// A process gets a free loopback port (listen on 127.0.0.1:0, close) in the
// variable Spec.PortEnv (default PORT) and in "$PORT" in its arguments. It
// is Starting until the readiness probe (HTTP GET with 2xx, or a TCP
// connect: the health checker's own probes, run once by
// probe.Checker.Check) succeeds; then the Listener hears InstanceReady and
// the caller adds http://<Addr> to the pool. A process that exits, or is not ready by
// the startup deadline, failed to start; if another process had taken its
// port meanwhile, it is retried at once on a new port.
//
// SetDesired(n) adds instances or stops the surplus (not ready first, then
// the newest). Replace(id) starts a new instance and stops the old one once
// the new one is ready. Update(spec) rolls every instance to the new spec
// one at a time the same way, so the ready count never drops below the
// desired count during the roll; instances that are not ready are replaced
// at once. Stop(ctx) stops everything and waits for all processes and
// goroutines.
//
// # Stopping and signals
//
// Every instance leads its own process group (Setpgid); signals go to the
// whole group. A deliberate stop is: InstanceStopping (the caller drains the
// target) → Spec.DrainDelay → SIGTERM → Spec.StopGrace (default 10s) →
// SIGKILL → InstanceGone. An instance that exits by itself gets only
// InstanceGone.
//
// # Back-off and failure
//
// Restarts of an instance wait an exponentially growing delay (Initial
// 100ms, doubling to Max 30s, each wait drawn from [d/2, d]); the delay
// resets after the instance stayed ready for ResetAfter (10s). A start
// error (command not found, not executable, bad directory) marks the
// Service failed at once, FailAfter (3) failed starts in a row do too;
// Status().Reason says why, e.g.
//
//	exec: "no-such-cmd": executable file not found in $PATH
//	exited with status 1 within 12ms of starting, 3 times in a row
//
// so the gateway can answer 503 with it. A failed service keeps retrying at
// the backed-off pace and recovers when an instance becomes ready.
//
// # Output
//
// Each process's stdout and stderr are read line by line (at most
// Spec.MaxLineBytes per line) into the Logger with attributes service,
// instance, pid and stream. Lines pass through a bounded buffer and are
// dropped, and counted, when the logger is slower than the child: the child
// never blocks on its output.
//
// # No orphans: Pdeathsig and the spawner thread
//
// Instances are started with Pdeathsig = SIGKILL, so they die even when
// Floodgate is killed with SIGKILL. Linux sends that signal when the OS
// thread that forked the child exits, not when the process does
// (golang/go#27505), and Go may retire threads while the process lives on.
// All children are therefore forked by a single spawner goroutine that
// calls runtime.LockOSThread and never returns, so its thread lives as long
// as the process. It is the package's only global state and is shared by
// all Services.
package process
