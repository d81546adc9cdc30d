// Package autoscaler runs the managed services of the configuration being
// served: for each upstream with a `managed` section it supervises the
// instances (package provider/process), measures the service's load in the
// data plane (package signals), decides the number of instances (package
// scale, pure) and holds requests while no instance is ready.
//
// # Wiring
//
// The gateway owns one Manager. On each configuration load it calls
// Prepare, which compiles every managed upstream into Settings (process
// spec, policy, hold queue) and builds new services without starting
// them; the route compiler wraps each route to a managed upstream with
// Plan.Wrap; Commit (after the snapshot is in service) starts new services,
// applies changed settings to running ones (a changed command, args or
// environment rolls the instances one at a time; a changed policy takes
// effect at the next decision, keeping the decision history) and stops
// removed ones. Abort discards what Prepare built. Shutdown calls Close
// after the listeners have drained.
//
// Instances reach the pool through the upstream's dynamic feed
// (upstream.Registry.Feed): InstanceReady adds http://127.0.0.1:PORT, and
// InstanceStopping/InstanceGone remove it, so the pool drains it (no new
// requests, in-flight ones finish) while the process gets DefaultDrainDelay
// before SIGTERM. The pools' hooks come back here: OnEligible releases held
// requests as soon as a pool has an eligible instance, and OnEject
// replaces an instance ejected for hanging ("hang") or failing its active
// probes ("probe") — other ejections (errors, slowness) only take it out
// of balancing, since a restart does not fix a failing dependency.
//
// # Control loop
//
// Each service has one goroutine that ticks every Settings.Interval (1 s by
// default) and also runs at once when the first request of a burst is
// held. A step samples /proc for every instance (CPU as a fraction of one
// core, RSS of its process tree), reads the stable and panic windows of
// the recorder, calls scale.Autoscaler.Decide with Current = the count it
// asked for last and Ready = the provider's ready count, and applies a
// changed count with process.Service.SetDesired. Every change is an Event
// (time, from, to, Decision.Reason()) kept in a ring of the latest 100 and
// logged. Services with a fixed `instances` count run the same loop for
// sampling only.
//
// # Holding requests (scale from zero)
//
// The route wrapper records every request in the recorder (Start/Done, so
// held requests count as in flight) and, when the pool has no eligible
// target, parks it in the service's gate: a FIFO of at most Hold.Queue
// requests. The request that finds the queue empty wakes the loop (one
// wake-up per burst, counted in floodgate_autoscaler_wakeups_total); the
// others only wait. When the pool's eligible set becomes non-empty the
// whole queue is released, oldest first (each waiter's channel is closed
// in arrival order; they then proceed concurrently). A full queue, the
// hold timeout, or a service that cannot start instances (its Status is
// Failed with no ready instance: the loop aborts the queue at its next
// step) answers 503 with Retry-After and a JSON message naming the reason.
// A client that leaves is taken out of the queue.
package autoscaler
