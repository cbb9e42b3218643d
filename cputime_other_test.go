//go:build !linux

package optim

// processCPU is 0 where it is not measured: the benchmarks then omit the
// figures over CPU time.
func processCPU() float64 { return 0 }
