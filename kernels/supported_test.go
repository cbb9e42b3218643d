package kernels

import (
	"strings"
	"testing"

	"github.com/simdoptim/optim/generic"
)

// TestRefusesUnsupportedSet: the validated layer must return an error, not
// run a set whose instructions this CPU lacks (that would be SIGILL). A set
// with a name no CPU supports stands in for, say, avx512 on an AVX2 machine.
func TestRefusesUnsupportedSet(t *testing.T) {
	unrunnable := genericSet
	unrunnable.name = "unrunnable"
	if unrunnable.Supported() {
		t.Fatal("a set named unrunnable reports Supported")
	}
	p, g, m, sq := []float32{1}, []float32{1}, []float32{0}, []float32{0}
	c, v := generic.AdamCoeffs[float32](1e-3, 0.9, 0.999, 1e-8, 0, false, false, false, 1)
	err := Adam(&unrunnable, v, &c, p, g, m, sq, nil)
	if err == nil || !strings.Contains(err.Error(), "unrunnable is not supported") {
		t.Fatalf("err = %v, want a refusal naming the set", err)
	}
	if p[0] != 1 || m[0] != 0 {
		t.Fatalf("refused call wrote: p=%v m=%v", p, m)
	}
	for _, s := range Compiled() {
		t.Logf("%s: supported=%v", s.Name(), s.Supported())
	}
	if !Generic().Supported() {
		t.Fatal("generic must always be supported")
	}
}
