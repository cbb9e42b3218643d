package optim

import (
	"github.com/simdoptim/optim/internal/cpufeat"
	"github.com/simdoptim/optim/kernels"
)

// The kernel set is the one internal/cpufeat chooses once, at
// initialization, for the whole module: the fastest compiled-in set the CPU
// and OS support, capped or forced by the environment variable OPTIM_ISA
// (generic, avx2, avx512 or neon). Package linalg runs the same choice.
var chosen = kernelsFor(cpufeat.Chosen())

// choice is the kernel set in use and the reason for it.
type choice struct {
	set    *kernels.Set
	reason string
}

// kernelsFor returns package kernels' set for cpufeat's choice. Both compile
// the same sets (TestCompiledAgrees), so the lookup fails only if they drift
// apart; generic is then the safe answer, and the reason says so.
func kernelsFor(c cpufeat.Choice) choice {
	if s, ok := kernels.Lookup(c.ISA.String()); ok {
		return choice{s, c.Reason}
	}
	return choice{kernels.Generic(), c.Reason + "; but package kernels has no " + c.ISA.String() + " set, so generic runs"}
}

// ISA returns the name of the kernel set in use: "avx512", "avx2", "neon" or
// "generic".
func ISA() string { return chosen.set.Name() }

// ISAReason explains why ISA's set was chosen, including why an OPTIM_ISA
// value was not honoured.
func ISAReason() string { return chosen.reason }

// Kernels returns the kernel set in use, for the stateless layer in package
// kernels.
func Kernels() *kernels.Set { return chosen.set }

// Supported reports whether the named kernel set is compiled in and supported
// by this CPU and OS.
func Supported(isa string) bool {
	_, ok := lookupSupported(isa)
	return ok
}

// SupportedSets returns every compiled-in set this CPU supports, fastest
// first; the last is always the generic set.
func SupportedSets() []*kernels.Set {
	var out []*kernels.Set
	for _, s := range kernels.Compiled() {
		if s.Supported() {
			out = append(out, s)
		}
	}
	return out
}

func lookupSupported(isa string) (*kernels.Set, bool) {
	s, ok := kernels.Lookup(isa)
	if !ok || !s.Supported() {
		return nil, false
	}
	return s, true
}
