//go:build race

package kernels

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// raceChildEnv tells a child test binary which set and which race to run.
const raceChildEnv = "KERNELS_RACE_CHILD"

// raceCases are the races the child can run: a goroutine writes p, writes
// g, or reads Adam's first moment m while a kernel runs; "none" touches
// memory the kernel does not, the control.
var raceCases = []string{"p", "g", "m", "none"}

// TestRaceVisibleInEverySet: a real data race with a kernel is reported
// whichever set runs it. The detector instruments Go code only, so before
// race.go's annotations it was reported under generic and missed under
// AVX2 and AVX-512. Each case runs in a child process of this (race-built)
// test binary, since a reported race fails the test it happens in.
func TestRaceVisibleInEverySet(t *testing.T) {
	expectRaces(t, raceChildEnv, "TestRaceChild", raceCases)
}

// expectRaces runs childTest in a child process of this test binary for
// every supported set and every race case, with env set to "<set>/<case>",
// and checks that the race detector reports every case but "none", the
// race-free control, which must pass.
func expectRaces(t *testing.T, env, childTest string, races []string) {
	t.Helper()
	if os.Getenv(env) != "" {
		t.Skip("in the child")
	}
	for _, s := range Compiled() {
		if !s.Supported() {
			t.Logf("%s: not supported by this CPU, not run", s.Name())
			continue
		}
		for _, race := range races {
			cmd := exec.Command(os.Args[0], "-test.run=^"+childTest+"$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), env+"="+s.Name()+"/"+race)
			out, err := cmd.CombinedOutput()
			reported := strings.Contains(string(out), "DATA RACE")
			switch {
			case !strings.Contains(string(out), "RUN   "+childTest):
				t.Errorf("%s/%s: the child did not run %s: %v\n%s", s.Name(), race, childTest, err, out)
			case race == "none" && (reported || err != nil):
				t.Errorf("%s: the race-free control failed: %v\n%s", s.Name(), err, out)
			case race != "none" && !reported:
				t.Errorf("%s: a race on %s was not reported (%v):\n%s", s.Name(), race, err, out)
			}
		}
	}
}

// TestRaceChild runs one race when TestRaceVisibleInEverySet asks for it.
func TestRaceChild(t *testing.T) {
	setName, race, ok := strings.Cut(os.Getenv(raceChildEnv), "/")
	if !ok {
		t.Skip("run by TestRaceVisibleInEverySet")
	}
	s, ok := Lookup(setName)
	if !ok {
		t.Fatalf("no set %q", setName)
	}
	const n = 100
	p, g, m, sq, other := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	c := Coeffs[float32]{NegLR: -0.1, Beta2: 0.9, OneMinusBeta2: 0.1, Lerp: 0.1, LerpComp: 0.9, BC2Sqrt: 1, Eps: 1e-8}
	var sink float32
	var wg sync.WaitGroup
	wg.Add(1)
	// The goroutine starts before the kernel and is joined after it, so
	// neither access happens before the other, whichever runs first.
	go func() {
		defer wg.Done()
		switch race {
		case "p":
			p[n/2] = 1
		case "g":
			g[n-1] = 1
		case "m":
			sink = m[0]
		case "none":
			other[n/2] = 1
		}
	}()
	if err := Adam(s, 0, &c, p, g, m, sq, nil); err != nil {
		t.Error(err)
	}
	wg.Wait()
	_ = sink
}
