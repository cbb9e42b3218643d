//go:build race

package kernels

// underRace shortens the exhaustive sweeps: the race detector slows their Go
// reference loops some twentyfold, and it cannot see the assembly's memory
// accesses anyway.
const underRace = true
