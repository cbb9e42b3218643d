//go:build race

package kernels

import (
	"runtime"
	"unsafe"
)

// raceBytes declares to the race detector that an assembly conversion
// kernel reads (or writes) size bytes at addr: the detector does not see
// assembly (race.go).
func raceBytes(addr unsafe.Pointer, size int, write bool) {
	if write {
		runtime.RaceWriteRange(addr, size)
	} else {
		runtime.RaceReadRange(addr, size)
	}
}
