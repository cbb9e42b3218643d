package linalg

import (
	"testing"

	"github.com/simdoptim/optim/internal/cpufeat"
)

// TestKernelsForEverySet: this package has kernels for every set cpufeat
// may choose on this machine and build (compiled in and supported), and
// runs the set cpufeat chose: one choice for the module, not a second one
// to hold in step. (The choice itself is tested in internal/cpufeat.)
func TestKernelsForEverySet(t *testing.T) {
	for _, isa := range cpufeat.Compiled() {
		if !isa.Supported() {
			continue
		}
		if got := kernelsFor(isa).name; got != isa.String() {
			t.Errorf("kernelsFor(%v) = %s", isa, got)
		}
	}
	if got := kernelsFor(cpufeat.Generic).name; got != "generic" {
		t.Errorf("kernelsFor(generic) = %s", got)
	}
	if got, want := Kernel(), cpufeat.Chosen().ISA.String(); got != want {
		t.Errorf("Kernel() = %s, cpufeat chose %s", got, want)
	}
	t.Logf("kernel set in use: %s; supported: %d", Kernel(), len(archKernels())+1)
}
