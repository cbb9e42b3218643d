package optim

import (
	"fmt"
	"os"

	"github.com/simdoptim/optim/internal/cpufeat"
	"github.com/simdoptim/optim/kernels"
)

// The kernel set is chosen once, at package initialization: the fastest
// compiled-in set the CPU and OS support, capped or forced by the
// environment variable OPTIM_ISA (generic, avx2, avx512 or neon).
var chosen = choose(os.Getenv("OPTIM_ISA"))

// choice is a dispatch decision and the reason for it.
type choice struct {
	set    *kernels.Set
	reason string
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

// choose decides the kernel set for the value of OPTIM_ISA.
func choose(env string) choice {
	supported := SupportedSets()
	best := supported[0]
	why := fmt.Sprintf("%s is the fastest set this CPU supports (%s)", best.Name(), cpufeat.Describe())
	if len(kernels.Compiled()) == 1 {
		why = "generic is the only set compiled in (noasm build or an architecture without assembly kernels)"
	}
	if env == "" {
		return choice{best, why}
	}
	if s, ok := lookupSupported(env); ok {
		return choice{s, fmt.Sprintf("OPTIM_ISA=%s selected it", env)}
	}
	var problem string
	switch _, compiled := kernels.Lookup(env); {
	case !knownISA(env):
		problem = "is not a kernel set (want generic, avx2, avx512 or neon)"
	case !compiled:
		problem = "is not compiled into this binary"
	default:
		problem = "is not supported by this CPU"
	}
	return choice{best, fmt.Sprintf("OPTIM_ISA=%s %s; %s", env, problem, why)}
}

func knownISA(name string) bool {
	switch name {
	case "generic", "avx2", "avx512", "neon":
		return true
	}
	return false
}
