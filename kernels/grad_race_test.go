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
// other memory, is the control). Each case runs in a child process, as in
// TestRaceVisibleInEverySet.
func TestGradRaceVisibleInEverySet(t *testing.T) {
	expectRaces(t, gradRaceChildEnv, "TestGradRaceChild", []string{"sum", "scale", "none"})
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
	x, other := make([]float32, n), make([]float32, n)
	k := Grad[float32](s)
	var sink float32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		switch race {
		case "sum":
			x[n/2] = 1
		case "scale":
			sink = x[n-1]
		case "none":
			other[0] = 1
		}
	}()
	if race == "scale" {
		k.Scale(x, 0.5)
	} else {
		_ = k.SumSquares(x)
	}
	wg.Wait()
	_ = sink
}
