//go:build race

package kernels

import (
	"os"
	"strings"
	"sync"
	"testing"
)

// gradRaceChildEnv tells a child test binary which set and which race to
// run against a gradient kernel.
const gradRaceChildEnv = "KERNELS_GRAD_RACE_CHILD"

// TestGradRaceVisibleInEverySet: a goroutine that writes a gradient while
// the norm's sum reads it, or reads it while Scale writes it, is reported
// by the race detector whichever set runs the kernel ("none", touching
// other memory, is the control); so is one that reads the slice that
// Accumulate or Lerp writes, or writes the one it reads. Each case runs in
// a child process, as in TestRaceVisibleInEverySet.
func TestGradRaceVisibleInEverySet(t *testing.T) {
	expectRaces(t, gradRaceChildEnv, "TestGradRaceChild",
		[]string{"sum", "scale", "accumulate-acc", "accumulate-g", "lerp-dst", "lerp-x", "none"})
}

// TestGradRaceChild runs one race when TestGradRaceVisibleInEverySet asks.
func TestGradRaceChild(t *testing.T) {
	setName, race, ok := strings.Cut(os.Getenv(gradRaceChildEnv), "/")
	if !ok {
		t.Skip("run by TestGradRaceVisibleInEverySet")
	}
	s, ok := Lookup(setName)
	if !ok {
		t.Fatalf("no set %q", setName)
	}
	const n = 256 // whole vectors: the assembly runs every element
	x, y, other := make([]float32, n), make([]float32, n), make([]float32, n)
	k := Grad[float32](s)
	var sink float32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		switch race {
		case "sum":
			x[n/2] = 1
		case "scale", "accumulate-acc", "lerp-dst":
			sink = x[n-1] // the kernel writes x
		case "accumulate-g", "lerp-x":
			y[n/2] = 1 // the kernel reads y
		case "none":
			other[0] = 1
		}
	}()
	switch race {
	case "scale":
		k.Scale(x, 0.5)
	case "accumulate-acc", "accumulate-g":
		k.Accumulate(x, y, 0.5)
	case "lerp-dst", "lerp-x":
		k.Lerp(x, y, 0.5)
	default:
		_ = k.SumSquares(x)
	}
	wg.Wait()
	_ = sink
}
