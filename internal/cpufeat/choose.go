package cpufeat

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// Compiled returns the sets compiled into this binary, fastest first; the
// last is always Generic. Packages kernels and linalg compile the same sets
// under the same build constraints (their tests check it). Some may not
// run on this CPU: see Supported.
func Compiled() []ISA { return append(slices.Clone(compiled), Generic) }

// Choice is a dispatch decision and the reason for it.
type Choice struct {
	ISA ISA
	// Off are the extensions OPTIM_ISA switches off (see Ext).
	Off    ExtSet
	Reason string
}

// chosen is decided once, at package initialization, for every package
// of the module.
var chosen = Choose(os.Getenv("OPTIM_ISA"))

// Chosen returns the set the module runs: the fastest compiled-in set the
// CPU and OS support, or the one the environment variable OPTIM_ISA names
// if that is compiled in and supported.
func Chosen() Choice { return chosen }

// Choose decides the kernel set for the value env of OPTIM_ISA: "" picks
// the fastest usable set; the name of a usable set selects it; anything
// else leaves the default standing, and the reason says why. The value may
// also switch extensions off (Ext): it is then a comma-separated list of
// at most one set name and terms "no<ext>", as in "avx512,nobf16" or
// "nobf16"; a value with a term that is neither is ignored as a whole.
func Choose(env string) Choice { return choose(env, Compiled(), ISA.Supported) }

// choose is Choose over a given list of compiled sets (fastest first,
// Generic last) and a given CPU, so that tests can pose as other machines.
func choose(env string, compiled []ISA, supported func(ISA) bool) Choice {
	best := Generic
	for _, i := range compiled {
		if supported(i) {
			best = i
			break
		}
	}
	why := fmt.Sprintf("%s is the fastest set this CPU supports (%s)", best, Describe())
	if len(compiled) == 1 {
		why = "generic is the only set compiled in (noasm build or an architecture without assembly kernels)"
	}
	if env == "" {
		return Choice{ISA: best, Reason: why}
	}
	var off ExtSet
	var sets []string
	for _, term := range strings.Split(env, ",") {
		if e, ok := parseExtOff(term); ok {
			off |= 1 << e
		} else {
			sets = append(sets, term)
		}
	}
	if len(sets) > 1 {
		return Choice{ISA: best, Reason: fmt.Sprintf("OPTIM_ISA=%s names more than one kernel set; %s", env, why)}
	}
	if len(sets) == 0 {
		return Choice{ISA: best, Off: off, Reason: fmt.Sprintf("OPTIM_ISA=%s switches extensions off; %s", env, why)}
	}
	var problem string
	switch isa, err := ParseISA(sets[0]); {
	case err != nil:
		problem = "is not a kernel set (want " + names() + ")"
	case !slices.Contains(compiled, isa):
		problem = "is not compiled into this binary"
	case !supported(isa):
		problem = "is not supported by this CPU"
	default:
		return Choice{ISA: isa, Off: off, Reason: fmt.Sprintf("OPTIM_ISA=%s selected it", env)}
	}
	return Choice{ISA: best, Reason: fmt.Sprintf("OPTIM_ISA=%s %s; %s", env, problem, why)}
}
