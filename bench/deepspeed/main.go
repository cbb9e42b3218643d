// Command deepspeed is optim's side of the comparison with DeepSpeed's CPU
// Adam (compare.sh, beside it): it times float32 Adam steps as
// ../shared/anchors/deepspeed/ds_driver.cpp times DeepSpeed's, on the same
// arrays with the same values, and prints the same JSON lines, so that one
// script can interleave the two and read both.
//
//	deepspeed [-workers W] [-rounds R] [-target_ms T] [-cpuprofile F] [-trace F] N...
//	deepspeed -version
//
// -cpuprofile and -trace write a CPU profile and an execution trace of the
// whole run, to see where a parallel step's time goes.
//
// Each size gets three warm-up steps, then R rounds of about T ms; a round
// line gives its ns per parameter, and a summary line per size gives the
// median. -workers is SetWorkers' n (0: GOMAXPROCS); the split threshold is
// the library's default, so this times what a user's Step does. -version
// prints the Go release it was built with, GOMAXPROCS and the kernel set,
// for a machine without Go (compare.sh's OPTIM_DRIVER).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"time"

	"github.com/simdoptim/optim"
)

func main() { os.Exit(timeSizes()) }

// timeSizes runs the command and returns its exit status; it returns
// rather than exits so that the profile and the trace are written.
func timeSizes() int {
	workers := flag.Int("workers", 1, "SetWorkers' n (0: GOMAXPROCS)")
	rounds := flag.Int("rounds", 9, "timed rounds per size")
	targetMS := flag.Float64("target_ms", 150, "the length of a round, in milliseconds")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	traceFile := flag.String("trace", "", "write an execution trace of the whole run to this file")
	version := flag.Bool("version", false, "print the Go release, GOMAXPROCS and the kernel set, and exit")
	flag.Parse()
	if *version {
		fmt.Printf("%s, GOMAXPROCS %d, optim's %s kernels\n", runtime.Version(), runtime.GOMAXPROCS(0), optim.ISA())
		return 0
	}
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: deepspeed [-workers W] [-rounds R] [-target_ms T] [-cpuprofile F] [-trace F] N...")
		return 2
	}
	for _, r := range []struct {
		path  string
		start func(io.Writer) error
		stop  func()
	}{{*cpuProfile, pprof.StartCPUProfile, pprof.StopCPUProfile}, {*traceFile, trace.Start, trace.Stop}} {
		stop, err := record(r.path, r.start, r.stop)
		if err != nil {
			log.Print(err)
			return 1
		}
		defer stop()
	}
	for _, arg := range flag.Args() {
		n, err := strconv.Atoi(arg)
		if err != nil || n <= 0 {
			log.Printf("size %q: want a positive integer", arg)
			return 2
		}
		if err := run(n, *workers, *rounds, time.Duration(*targetMS*float64(time.Millisecond))); err != nil {
			log.Print(err)
			return 1
		}
	}
	return 0
}

// record starts a recording (the CPU profile or the execution trace) into
// the file at path, if path is set, and returns what stops it and closes
// the file.
func record(path string, start func(io.Writer) error, stop func()) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { stop(); f.Close() }, nil
}

func run(n, workers, rounds int, target time.Duration) error {
	p, g := make([]float32, n), make([]float32, n)
	for i := range p {
		p[i] = float32(i%1000)*1e-3 - 0.5
		g[i] = float32(i%777)*1e-3 - 0.4
	}
	// DeepSpeed's driver: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight
	// decay, bias correction; that is DefaultAdam.
	opt, err := optim.New(optim.DefaultAdam(), p)
	if err != nil {
		return err
	}
	defer opt.Close()
	if err := opt.SetWorkers(workers); err != nil {
		return err
	}
	step := func(reps int) time.Duration {
		start := time.Now()
		for range reps {
			if err := opt.Step(g); err != nil {
				log.Fatal(err)
			}
		}
		return time.Since(start)
	}
	for range 3 {
		step(1)
	}
	reps := max(1, int(target/max(step(1), time.Nanosecond)))
	ns := make([]float64, rounds)
	used := opt.Workers()
	for r := range ns {
		ns[r] = float64(step(reps).Nanoseconds()) / float64(reps) / float64(n)
		fmt.Printf(`{"kind":"round","impl":"optim","n":%d,"workers":%d,"threads":%d,"round":%d,"reps":%d,"ns_per_param":%.5f}`+"\n",
			n, workers, used, r, reps, ns[r])
	}
	slices.Sort(ns)
	median := ns[len(ns)/2]
	if len(ns)%2 == 0 {
		median = (ns[len(ns)/2-1] + ns[len(ns)/2]) / 2
	}
	checksum := 0.0
	for i := 0; i < n; i += 997 {
		checksum += float64(p[i])
	}
	fmt.Printf(`{"kind":"summary","impl":"optim","n":%d,"workers":%d,"threads":%d,"reps":%d,"ns_per_param":%.5f,"checksum":%.6g}`+"\n",
		n, workers, used, reps, median, checksum)
	return nil
}
