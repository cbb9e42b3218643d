//go:build !linux

package linalg

// processCPU is not measured outside Linux; the CPU-time metric is skipped.
func processCPU() float64 { return 0 }
