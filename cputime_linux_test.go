package optim

import "syscall"

// processCPU returns the CPU time this process has used, in seconds, for
// the benchmarks' figures over CPU time, which stay meaningful on a machine
// shared with other jobs (linalg's benchmarks do the same).
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
