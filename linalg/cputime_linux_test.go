package linalg

import "syscall"

// processCPU returns the CPU time this process has used, in seconds
// (threads and helper goroutines included: gonum's GEMM may fork workers).
// The benchmarks also report GF/s over CPU time, which stays meaningful on a
// machine shared with other jobs, where wall-clock figures swing with the
// load; run them with -cpu 1 so it counts one thread's work.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
