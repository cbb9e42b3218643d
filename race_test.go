//go:build race

package optim

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// stepRaceChildEnv tells a child test binary to run the racy Step.
const stepRaceChildEnv = "OPTIM_STEP_RACE_CHILD"

// TestStepRaceVisibleInEverySet: a goroutine that writes a parameter while
// Step updates it is a race the detector reports under every kernel set.
// The detector does not instrument the AVX2 and AVX-512 assembly (the race
// was once reported only under OPTIM_ISA=generic); package kernels
// declares the assembly's accesses under -race. Each set runs in a child process of
// this race-built test binary with OPTIM_ISA naming it.
func TestStepRaceVisibleInEverySet(t *testing.T) {
	if os.Getenv(stepRaceChildEnv) != "" {
		t.Skip("in the child")
	}
	for _, s := range SupportedSets() {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStepRaceChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), stepRaceChildEnv+"=1", "OPTIM_ISA="+s.Name())
		out, err := cmd.CombinedOutput()
		if !strings.Contains(string(out), "ISA "+s.Name()) {
			t.Errorf("%s: the child did not run Step with that set: %v\n%s", s.Name(), err, out)
		} else if !strings.Contains(string(out), "DATA RACE") {
			t.Errorf("%s: a race on params during Step was not reported (%v):\n%s", s.Name(), err, out)
		}
	}
}

// TestStepRaceChild races a write to a parameter with Step.
func TestStepRaceChild(t *testing.T) {
	if os.Getenv(stepRaceChildEnv) == "" {
		t.Skip("run by TestStepRaceVisibleInEverySet")
	}
	t.Logf("ISA %s", ISA())
	p, g := make([]float32, 100), make([]float32, 100)
	o, err := New(DefaultAdam(), p)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p[50] = 1
	}()
	if err := o.Step(g); err != nil {
		t.Error(err)
	}
	wg.Wait()
}
