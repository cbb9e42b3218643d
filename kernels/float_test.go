package kernels

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestNamedFloatDoesNotCompile: kernels.SGD[MyFloat] with a named float
// type used to compile and then panic on a type assertion in Kernel. The
// layer now takes exactly float32 | float64, a compile-time property, so the
// test compiles a program that tries it and expects the type checker's
// refusal.
func TestNamedFloatDoesNotCompile(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to compile with")
	}
	cmd := exec.Command(goTool, "build", "-o", os.DevNull, "./testdata/namedfloat")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("kernels.SGD[MyFloat] compiles; the stateless layer must take exactly float32 or float64")
	}
	if !strings.Contains(string(out), "MyFloat does not satisfy") {
		t.Fatalf("the build failed for another reason:\n%s", out)
	}
}
