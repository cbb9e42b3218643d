package optim

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The workers of parallel steps, reductions and averaging passes.
//
// A pool is a set of worker goroutines, started when a parallel call first
// needs them. The caller is worker 0 and runs share 0; worker w runs share
// w. Work is elementwise, or, for sums, a fixed tree over fixed pieces, so
// which goroutine runs a share changes no bit.
//
// The hand-off is what makes small splits pay. A goroutine parked on a
// channel is woken through the runtime and, when its thread sleeps, a
// futex: on the 2-vCPU development machine (a virtual machine) a parked
// round trip costs about 50 µs, as much as stepping 250K elements, against
// 0.25 µs for a spinning one (BenchmarkHandoff; docs/guide.md, "Every
// core"). So, as OpenMP's threads do (GOMP_SPINCOUNT), a worker that
// finishes a share keeps watching for the next one for up to spinFor
// before it parks, and the caller watches for the other shares to end for
// as long before it parks too. Steps, reductions and clipping that follow
// each other within spinFor never wait for a wake-up. Between training
// steps that are further apart the workers park and cost nothing; the most
// CPU time a pool burns after its last call is spinFor per worker, and
// less when calls come sparsely: a worker halves its spin after one that
// ended in a park, down to spinMin, and doubles it after one that caught a
// call, up to spinFor, so that spins that never pay do not keep taking CPU
// time from other goroutines and processes.
//
// A call that finds a worker parked does not wait 50 µs for it: unless the
// call is large (wakeEarlyMin), the caller runs that worker's share itself,
// and wakes the worker afterwards only when calls come in a burst, so that
// it spins for the next one. A step that follows a long pause therefore
// costs what one worker's does (BenchmarkStepAfterPause).
//
// Spinning needs a core per spinner. When a call uses more workers than
// GOMAXPROCS, or than the CPUs the process may run on, no one spins: a
// spinning goroutine would hold the processor that the goroutine it waits
// for needs. Spinners also yield to the scheduler every spinYield, so that
// other goroutines that load the machine still run.

// spinFor is how long a worker watches for its next share, and the caller
// for the other shares to end, before parking. It covers the gaps between
// the calls of one training step (reductions, clipping, the step, the
// averaging) many times over, and costs at most 2 ms of CPU per worker
// after the last call (then less and less, as the spin halves).
//
// It was 200 µs, enough on 2 cores, where the shares end together. On a
// lent 16-core machine (Intel Xeon; docs/performance.md, "Sixteen cores")
// the workers of a 1M-element step started up to 210 µs apart (an
// execution trace), some parked, and parking fed on itself: the caller ran
// the parked workers' shares, their wake-ups queued them on the caller's
// processor, where they ran one after another, and the longer calls parked
// more workers. 16 workers stepped 1M elements at 0.43-0.46 ns per
// parameter, no faster than 2; with a 2 ms spin, 0.078-0.083 in 3 fresh
// processes of 3 (8 workers: 0.39-0.48, then 0.14-0.17), and on the 2-core
// machine no slower (medians of 5 processes at 2^20 and 2^16 elements:
// 0.140 and 0.150, then 0.135 and 0.110 ns). OpenMP's threads too spin by
// default before they sleep (GOMP_SPINCOUNT, 300,000 polls).
const spinFor = 2 * time.Millisecond

// spinMin is the shortest spin: an event 5 µs away is still caught
// without a wake-up.
const spinMin = 5 * time.Microsecond

// spinYield is how often a spinner yields its processor.
const spinYield = 20 * time.Microsecond

// spinChecks is the number of polls between two looks at the clock.
const spinChecks = 64

// wakeEarlyMin is the share, in elements per worker, from which a call
// hands parked workers their shares and wakes them at once. A wake-up
// costs the caller 4-12 µs (a futex call), and the worker arrives 30-60 µs
// later, on a core whose caches are cold: at 2^19 elements per worker (about
// 100 µs of Adam) that was still slower than the caller running both
// shares, so only shares of 2^20 elements and more wait for the wake-up.
const wakeEarlyMin = 1 << 20

// pool is a set of worker goroutines. It holds no reference to what it
// works for (an Optimizer or Averaged) between calls, so a cleanup can stop
// it when that is collected.
type pool struct {
	workers []*poolWorker // worker w+1 is workers[w]
	task    interface{ run(w int) }
	spin    atomic.Bool // the current call's parties spin before parking
	// lastEnd is when the last call ended; only the caller uses it. It
	// shares the line that the caller writes for every call anyway.
	lastEnd time.Time
	// running counts the workers still on their share, and its
	// callerParked bit says that the caller waits on done. Both are one
	// word so that a worker's decrement and its look at the bit are one
	// atomic step: a worker that finished call k and was descheduled
	// before looking at a separate flag could otherwise see the caller
	// parked in call k+1, and wake it before call k+1's share ran.
	_       [64]byte
	running atomic.Int64
	done    chan struct{}
	// failed records a panic in a share, so that the call can report it.
	mu     sync.Mutex
	failed any
}

// poolWorker is one worker goroutine's mailbox, padded to its own cache
// lines so that the caller's writes to one worker's do not slow another's
// spinning reads.
type poolWorker struct {
	_ [64]byte
	// calls counts the calls handed to this worker; the worker runs its
	// share when it moves. A closed pool sets it to quit. The worker polls
	// it while it spins.
	calls atomic.Uint64
	_     [56]byte
	// parked says the worker has stopped spinning and waits on wake;
	// whoever turns it false owns the single wake-up. It has a line of its
	// own so that the caller's look at it does not pull the line that the
	// worker polls.
	parked atomic.Bool
	wake   chan struct{}
	// late says the caller ran this worker's share of the current call,
	// because it was parked, and may wake it when the call is done. Only the
	// caller uses it.
	late bool
	_    [40]byte
}

// quit is the calls value that stops a worker.
const quit = ^uint64(0)

func newPool() *pool { return &pool{done: make(chan struct{}, 1)} }

// grow starts worker goroutines until there are at least goroutines. It
// runs between calls.
func (p *pool) grow(goroutines int) {
	for len(p.workers) < goroutines {
		// A worker starts parked: the first call takes its parked flag
		// and owns its first wake-up, as for any parked worker.
		pw := &poolWorker{wake: make(chan struct{}, 1)}
		pw.parked.Store(true)
		p.workers = append(p.workers, pw)
		go p.loop(len(p.workers), pw)
	}
}

// loop is worker w's goroutine: it waits for a call, runs its share, and
// reports that it is done.
func (p *pool) loop(w int, pw *poolWorker) {
	var seen uint64
	budget := spinFor // this worker's spin, adapted as it hits or misses
	<-pw.wake         // started parked
	c := pw.calls.Load()
	for {
		if c == quit {
			return
		}
		// Woken after a call whose share the caller ran (c == seen), the
		// worker only watches for the next call.
		spin := p.spin.Load()
		if c != seen {
			seen = c
			p.runOne(w)
			if p.running.Add(-1) == callerParked {
				p.done <- struct{}{}
				// The runtime queues the goroutine that a channel wakes on
				// the waker's processor, which this worker would then
				// hold, spinning, while the caller waits there for another
				// to steal it: yielding runs the caller here at once.
				runtime.Gosched()
			}
		}
		c = pw.await(seen, spin, &budget)
	}
}

// await returns the worker's calls value once it differs from seen, or
// when the worker is woken: spinning for *budget first when spin is set
// (and adapting *budget), then parked.
func (pw *poolWorker) await(seen uint64, spin bool, budget *time.Duration) uint64 {
	if spin {
		if c, ok := spinUntil(budget, func() (uint64, bool) {
			c := pw.calls.Load()
			return c, c != seen
		}); ok {
			return c
		}
	}
	// The caller looks at parked after it adds to calls (do), and wakes
	// the worker only after turning parked false itself: either it sees
	// parked and wakes the worker, or this load sees its call. That needs
	// the store of parked ordered before the load of calls, which Go's
	// atomics promise; but qemu-aarch64 on an amd64 host lets a load pass
	// an earlier atomic store (a litmus test of Store then Load saw both
	// sides' stale values in 169 of 200,000 tries, and CI's arm64 lane
	// deadlocked here), so the store is a swap, a read-modify-write that
	// every host orders fully. On amd64 Store is the same XCHG.
	pw.parked.Swap(true)
	if c := pw.calls.Load(); c != seen {
		if !pw.parked.CompareAndSwap(true, false) {
			<-pw.wake // the caller turned parked false and sends a wake-up
		}
		return c
	}
	<-pw.wake
	return pw.calls.Load()
}

// spinUntil polls cond for *budget, yielding the processor every
// spinYield, and returns cond's value once it turned true. It doubles
// *budget (up to spinFor) when cond turned true, and halves it (down to
// spinMin) when it did not.
func spinUntil[V any](budget *time.Duration, cond func() (V, bool)) (V, bool) {
	start := time.Now()
	lastYield := time.Duration(0)
	for {
		for range spinChecks {
			if v, ok := cond(); ok {
				*budget = min(*budget*2, spinFor)
				return v, true
			}
		}
		elapsed := time.Since(start)
		if elapsed >= *budget {
			*budget = max(*budget/2, spinMin)
			var zero V
			return zero, false
		}
		if elapsed-lastYield >= spinYield {
			lastYield = elapsed
			runtime.Gosched()
		}
	}
}

// runOne runs share w, turning a panic into a recorded failure.
func (p *pool) runOne(w int) {
	defer func() {
		if r := recover(); r != nil {
			p.mu.Lock()
			if p.failed == nil {
				p.failed = r
			}
			p.mu.Unlock()
		}
	}()
	p.task.run(w)
}

// do runs t's shares 0..n-1, share 0 on the caller, and returns the first
// panic a share raised, if any. perWorker is the number of elements of one
// share, which decides whether a parked worker is woken for this call
// (wakeEarlyMin). grow(n-1) must have run.
func (p *pool) do(t interface{ run(w int) }, n, perWorker int) any {
	start := time.Now()
	p.task = t
	p.spin.Store(canSpin(n))
	wakeEarly := perWorker >= wakeEarlyMin
	handed := int32(0)
	for _, pw := range p.workers[:n-1] {
		// A parked worker's share is run here, and the worker woken
		// afterwards; taking its parked flag makes the wake-up ours.
		pw.late = !wakeEarly && pw.parked.Load() && pw.parked.CompareAndSwap(true, false)
		if !pw.late {
			handed++
		}
	}
	p.running.Store(int64(handed))
	for _, pw := range p.workers[:n-1] {
		if !pw.late {
			pw.calls.Add(1)
			if pw.parked.Load() && pw.parked.CompareAndSwap(true, false) {
				pw.wake <- struct{}{}
			}
		}
	}
	p.runOne(0)
	for w, pw := range p.workers[:n-1] {
		if pw.late {
			p.runOne(w + 1)
		}
	}
	p.wait()
	// Waking a parked worker costs this goroutine 4-12 µs. It pays only
	// if the next call comes while the worker spins: so only in a burst,
	// when this call started within spinFor of the last one's end.
	// Otherwise the worker stays parked, and its flag is set back.
	burst := start.Sub(p.lastEnd) < spinFor
	for _, pw := range p.workers[:n-1] {
		if pw.late {
			pw.late = false
			if burst {
				pw.wake <- struct{}{}
			} else {
				pw.parked.Store(true)
			}
		}
	}
	p.lastEnd = time.Now()
	p.task = nil
	failed := p.failed
	p.failed = nil
	return failed
}

// wait returns when every worker handed a share has finished it.
func (p *pool) wait() {
	if p.running.Load() == 0 {
		return
	}
	if p.spin.Load() {
		// The caller's spin does not adapt: how long it waits depends on
		// how the shares balance, not on how often calls come.
		budget := spinFor
		if _, ok := spinUntil(&budget, func() (struct{}, bool) { return struct{}{}, p.running.Load() == 0 }); ok {
			return
		}
	}
	for {
		v := p.running.Load()
		if v == 0 {
			return
		}
		if p.running.CompareAndSwap(v, v|callerParked) {
			break
		}
	}
	<-p.done // sent by the worker whose decrement left callerParked alone
}

// callerParked is the bit of pool.running that says the caller waits on
// done.
const callerParked = 1 << 62

// close stops the worker goroutines. It runs between calls.
func (p *pool) close() {
	for _, pw := range p.workers {
		pw.calls.Swap(quit) // ordered before the load of parked, as in await
		if pw.parked.Load() && pw.parked.CompareAndSwap(true, false) {
			pw.wake <- struct{}{}
		}
	}
	p.workers = nil
}

// canSpin reports whether a call on n goroutines (the caller's included)
// may spin: only when each of them can have a processor and a CPU of its
// own.
func canSpin(n int) bool {
	return n <= runtime.GOMAXPROCS(0) && n <= runtime.NumCPU()
}
