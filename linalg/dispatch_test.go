package linalg

import "testing"

// TestChooseKernel follows package optim's rule: generic forces the
// portable set, a supported set name selects it, anything else the fastest.
func TestChooseKernel(t *testing.T) {
	supported := append(archKernels(), genericKernels)
	name := func(env string) string { return chooseKernel(env).name }
	if got := name("generic"); got != "generic" {
		t.Errorf("OPTIM_ISA=generic: %s", got)
	}
	for _, k := range supported {
		if got := name(k.name); got != k.name {
			t.Errorf("OPTIM_ISA=%s: %s", k.name, got)
		}
	}
	for _, env := range []string{"", "bogus", "sse2"} {
		if got := name(env); got != supported[0].name {
			t.Errorf("OPTIM_ISA=%q: %s, want the fastest, %s", env, got, supported[0].name)
		}
	}
	t.Logf("kernel set in use: %s; supported: %d", Kernel(), len(supported))
}
