//go:build race

package kernels

// raceGrad declares to the race detector that an assembly gradient kernel
// reads x (and writes it, for a pass that stores): the detector does not
// see assembly (race.go).
func raceGrad[T Float](x []T, write bool) { raceRange(x, len(x), write) }
