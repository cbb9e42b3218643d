package optim

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countTask counts the runs of each share, and records whether each ran
// on a worker goroutine or on the caller's.
type countTask struct {
	ran      []atomic.Int32
	onWorker []atomic.Bool
	panic    int // a share that panics, or -1
}

func newCountTask(n int) *countTask {
	return &countTask{ran: make([]atomic.Int32, n), onWorker: make([]atomic.Bool, n), panic: -1}
}

func (t *countTask) run(w int) {
	t.ran[w].Add(1)
	buf := make([]byte, 4096)
	t.onWorker[w].Store(strings.Contains(string(buf[:runtime.Stack(buf, false)]), "optim.(*pool).loop("))
	if w == t.panic {
		panic(fmt.Sprintf("share %d fails", w))
	}
}

// TestPoolRunsEveryShareOnce: every call runs each of its shares exactly
// once, whatever mix of worker counts and pauses (spinning, parked) came
// before, and with more workers than GOMAXPROCS. A large call (from
// wakeEarlyMin elements per worker) runs every share on its worker.
func TestPoolRunsEveryShareOnce(t *testing.T) {
	for _, procs := range []int{1, 2, runtime.GOMAXPROCS(0)} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			p := newPool()
			defer p.close()
			calls := 300
			if testing.Short() {
				calls = 60
			}
			for c := range calls {
				n := 1 + c*7%8
				perWorker := 1
				if c%3 == 0 {
					perWorker = wakeEarlyMin
				}
				p.grow(n - 1)
				task := newCountTask(n)
				if failed := p.do(task, n, perWorker); failed != nil {
					t.Fatalf("call %d: %v", c, failed)
				}
				for w := range task.ran {
					if got := task.ran[w].Load(); got != 1 {
						t.Fatalf("call %d on %d workers: share %d ran %d times, want 1", c, n, w, got)
					}
					if onWorker := task.onWorker[w].Load(); w == 0 && onWorker || perWorker >= wakeEarlyMin && w > 0 && !onWorker {
						t.Fatalf("call %d on %d workers, %d elements each: share %d ran on a worker: %v", c, n, perWorker, w, onWorker)
					}
				}
				if c%50 == 49 {
					time.Sleep(2 * spinFor) // the workers park
				}
			}
		})
	}
}

// TestPoolRunsAParkedWorkersShareOnTheCaller: a small call that finds a
// worker parked runs its share on the caller, and then wakes it, so that
// it takes the next call's share.
func TestPoolRunsAParkedWorkersShareOnTheCaller(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 || runtime.NumCPU() < 2 {
		t.Skip("needs 2 processors for the worker to spin")
	}
	p := newPool()
	defer p.close()
	p.grow(1)
	task := newCountTask(2)
	p.do(task, 2, 1) // a new worker is parked
	if task.onWorker[1].Load() {
		t.Fatal("a new, parked worker ran the first call's share")
	}
	for range 100 {
		task = newCountTask(2)
		p.do(task, 2, 1)
		if task.onWorker[1].Load() {
			return
		}
	}
	t.Error("the woken worker ran none of the next 100 calls' shares")
}

// TestPoolReportsAPanic: a share's panic is the call's failure, and the
// pool keeps working.
func TestPoolReportsAPanic(t *testing.T) {
	p := newPool()
	defer p.close()
	p.grow(3)
	task := newCountTask(4)
	task.panic = 2
	if failed := p.do(task, 4, wakeEarlyMin); failed == nil || !strings.Contains(fmt.Sprint(failed), "share 2 fails") {
		t.Fatalf("do with a panicking share: %v, want its panic", failed)
	}
	task.panic = -1
	if failed := p.do(task, 4, wakeEarlyMin); failed != nil {
		t.Fatalf("the call after a panic: %v", failed)
	}
	for w := range task.ran {
		if got := task.ran[w].Load(); got != 2 {
			t.Errorf("share %d ran %d times in 2 calls", w, got)
		}
	}
}

// TestPoolParksWhenIdle: once spinFor has passed after a call, every
// worker is parked, so an idle optimizer burns no CPU.
func TestPoolParksWhenIdle(t *testing.T) {
	p := newPool()
	defer p.close()
	n := min(runtime.GOMAXPROCS(0), 4)
	if n < 2 {
		t.Skip("needs GOMAXPROCS >= 2 for the workers to spin")
	}
	p.grow(n - 1)
	p.do(newCountTask(n), n, wakeEarlyMin)
	deadline := time.Now().Add(10 * time.Second)
	for {
		parked := 0
		for _, pw := range p.workers {
			if pw.parked.Load() {
				parked++
			}
		}
		if parked == len(p.workers) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d workers parked 10 s after the last call (spinFor is %v)", parked, len(p.workers), spinFor)
		}
		time.Sleep(spinFor)
	}
}

// TestPoolNeverLosesAWakeUp: calls that hand shares to workers just as
// they park (more parties than GOMAXPROCS, so no one spins and every
// worker parks right after its share) all finish. A worker that missed
// its call while the caller missed its parked flag would hang the call
// forever; the watchdog turns that into a failure.
func TestPoolNeverLosesAWakeUp(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	const n = 4
	calls := 20000
	if testing.Short() {
		calls = 3000
	}
	p := newPool()
	p.grow(n - 1)
	finished := make(chan int, 1)
	go func() {
		c := 0
		for ; c < calls; c++ {
			// A varying pause moves the call across the workers' way
			// from their last share into parking.
			for i := 0; i < c%64*8; i++ {
				sink.Add(1)
			}
			p.do(emptyTask{}, n, wakeEarlyMin)
		}
		finished <- c
	}()
	select {
	case c := <-finished:
		p.close()
		if c != calls {
			t.Fatalf("%d of %d calls finished", c, calls)
		}
	case <-time.After(2 * time.Minute):
		// The pool is left hanging: closing it would race with the call.
		t.Fatalf("a call on %d parties did not finish within 2 minutes: a lost wake-up", n)
	}
}

// TestCanSpin: a call spins only when every party has a processor.
func TestCanSpin(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	if runtime.NumCPU() >= 2 && !canSpin(2) {
		t.Error("2 parties on GOMAXPROCS 2 do not spin")
	}
	if canSpin(3) {
		t.Error("3 parties on GOMAXPROCS 2 spin")
	}
}

// BenchmarkHandoff times the round trip of an empty call: the caller hands
// it out to n-1 workers and waits until each has run its (empty) share. The
// calls are large ones (wakeEarlyMin), so that the caller does wait for
// parked workers.
// "back-to-back" calls follow each other, as a step follows a gradient
// norm, and find the workers spinning; "parked" calls come after a pause
// longer than spinFor, as training steps seconds apart do, and wake them.
// The parked case's pause is not timed.
func BenchmarkHandoff(b *testing.B) {
	parties := []int{2}
	if procs := runtime.GOMAXPROCS(0); procs > 2 {
		parties = append(parties, procs)
	}
	for _, n := range parties {
		task := emptyTask{}
		b.Run(fmt.Sprintf("back-to-back/parties=%d", n), func(b *testing.B) {
			p := newPool()
			defer p.close()
			p.grow(n - 1)
			p.do(task, n, wakeEarlyMin)
			b.ResetTimer()
			for range b.N {
				p.do(task, n, wakeEarlyMin)
			}
		})
		b.Run(fmt.Sprintf("parked/parties=%d", n), func(b *testing.B) {
			p := newPool()
			defer p.close()
			p.grow(n - 1)
			p.do(task, n, wakeEarlyMin)
			var total time.Duration
			for range b.N {
				time.Sleep(spinFor + 100*time.Microsecond)
				start := time.Now()
				p.do(task, n, wakeEarlyMin)
				total += time.Since(start)
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/handoff")
		})
	}
}

// sink keeps the pause loop of TestPoolNeverLosesAWakeUp from being removed.
var sink atomic.Int64

// emptyTask is a call with nothing to do.
type emptyTask struct{}

func (emptyTask) run(int) {}
