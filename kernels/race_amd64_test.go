//go:build race

package kernels

// raceEnabled shortens the exhaustive sweeps: the race detector slows their
// Go reference loops some twentyfold, and the assembly has no Go memory
// accesses for it to check.
const raceEnabled = true
