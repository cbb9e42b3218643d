package schedule

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simdoptim/optim/internal/detmath"
)

// goldenFile is the format of testdata/torch-schedules/*.json (see its
// README), of the extra configurations recorded by
// testdata/torch-schedules/extra/record.py, and of the SWALR schedules of
// testdata/torch-swalr, which may start with another scheduler (First,
// stepped for the first FirstSteps steps).
type goldenFile struct {
	Name          string              `json:"name"`
	Optimizer     string              `json:"optimizer"`
	GroupLRs      []float64           `json:"group_lrs"`
	GroupMomentum *float64            `json:"group_momentum"`
	Scheduler     string              `json:"scheduler"`
	Args          json.RawMessage     `json:"args"`
	First         *[2]json.RawMessage `json:"first"`
	FirstSteps    int                 `json:"first_steps"`
	Steps         int                 `json:"steps"`
	Metrics       []float64           `json:"metrics"`
	LR            [][]float64         `json:"lr"`
	Momentum      [][]float64         `json:"momentum"`
}

// args is every keyword argument the recorded configurations use.
type args struct {
	LRLambda       json.RawMessage      `json:"lr_lambda"`
	StepSize       int                  `json:"step_size"`
	Gamma          *float64             `json:"gamma"`
	Milestones     []int                `json:"milestones"`
	Factor         *float64             `json:"factor"`
	TotalIters     *int                 `json:"total_iters"`
	StartFactor    *float64             `json:"start_factor"`
	EndFactor      *float64             `json:"end_factor"`
	Power          *float64             `json:"power"`
	TMax           int                  `json:"T_max"`
	EtaMin         float64              `json:"eta_min"`
	T0             int                  `json:"T_0"`
	TMult          *int                 `json:"T_mult"`
	BaseLR         json.RawMessage      `json:"base_lr"`
	MaxLR          json.RawMessage      `json:"max_lr"`
	StepSizeUp     *int                 `json:"step_size_up"`
	StepSizeDown   *int                 `json:"step_size_down"`
	Mode           *string              `json:"mode"`
	ScaleFn        string               `json:"scale_fn"`
	ScaleMode      *string              `json:"scale_mode"`
	CycleMomentum  *bool                `json:"cycle_momentum"`
	BaseMomentum   json.RawMessage      `json:"base_momentum"`
	MaxMomentum    json.RawMessage      `json:"max_momentum"`
	TotalSteps     int                  `json:"total_steps"`
	PctStart       *float64             `json:"pct_start"`
	AnnealStrategy *string              `json:"anneal_strategy"` // OneCycleLR, SWALR
	DivFactor      *float64             `json:"div_factor"`
	FinalDivFactor *float64             `json:"final_div_factor"`
	ThreePhase     bool                 `json:"three_phase"`
	Patience       *int                 `json:"patience"`
	Threshold      *float64             `json:"threshold"`
	ThresholdMode  *string              `json:"threshold_mode"`
	Cooldown       *int                 `json:"cooldown"`
	MinLR          json.RawMessage      `json:"min_lr"`
	Eps            *float64             `json:"eps"`
	Schedulers     [][2]json.RawMessage `json:"schedulers"`
	SwaLR          json.RawMessage      `json:"swa_lr"`
	AnnealEpochs   *int                 `json:"anneal_epochs"`
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// perGroup reads a scalar or a list.
func perGroup(t *testing.T, raw json.RawMessage, dst *[]float64) {
	if len(raw) == 0 {
		return
	}
	var x float64
	if json.Unmarshal(raw, &x) == nil {
		*dst = []float64{x}
		return
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		t.Fatalf("per-group value %s: %v", raw, err)
	}
}

// lambdas are the Python lambdas the recordings name, as Go functions.
var lambdas = map[string]func(int) float64{
	"0.95**epoch": func(e int) float64 { return detmath.Pow(0.95, float64(e)) },
	"0.98":        func(int) float64 { return 0.98 },
	"0.9**epoch":  func(e int) float64 { return detmath.Pow(0.9, float64(e)) },
}

var scaleFns = map[string]func(float64) float64{
	"1/(1+0.1*x)": func(x float64) float64 { return 1 / (1 + float64(0.1*x)) },
}

// specFor builds the spec torch's class and keyword arguments describe,
// starting from this package's Default* values where torch has defaults.
func specFor(t *testing.T, class string, raw json.RawMessage) Spec {
	t.Helper()
	var a args
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("%s args: %v", class, err)
	}
	lambda := func() []func(int) float64 {
		var names []string
		var one string
		if json.Unmarshal(a.LRLambda, &one) == nil {
			names = []string{one}
		} else if err := json.Unmarshal(a.LRLambda, &names); err != nil {
			t.Fatalf("lr_lambda %s: %v", a.LRLambda, err)
		}
		var fs []func(int) float64
		for _, n := range names {
			f, ok := lambdas[n]
			if !ok {
				t.Fatalf("unknown lambda %q", n)
			}
			fs = append(fs, f)
		}
		return fs
	}
	switch class {
	case "LambdaLR":
		return LambdaLR{Lambdas: lambda()}
	case "MultiplicativeLR":
		return MultiplicativeLR{Lambdas: lambda()}
	case "StepLR":
		s := DefaultStepLR(a.StepSize)
		set(&s.Gamma, a.Gamma)
		return s
	case "MultiStepLR":
		s := DefaultMultiStepLR(a.Milestones...)
		set(&s.Gamma, a.Gamma)
		return s
	case "ConstantLR":
		s := DefaultConstantLR()
		set(&s.Factor, a.Factor)
		set(&s.TotalIters, a.TotalIters)
		return s
	case "LinearLR":
		s := DefaultLinearLR()
		set(&s.StartFactor, a.StartFactor)
		set(&s.EndFactor, a.EndFactor)
		set(&s.TotalIters, a.TotalIters)
		return s
	case "ExponentialLR":
		return ExponentialLR{Gamma: *a.Gamma}
	case "PolynomialLR":
		s := DefaultPolynomialLR()
		set(&s.TotalIters, a.TotalIters)
		set(&s.Power, a.Power)
		return s
	case "CosineAnnealingLR":
		return CosineAnnealingLR{TMax: a.TMax, EtaMin: a.EtaMin}
	case "CosineAnnealingWarmRestarts":
		s := DefaultCosineAnnealingWarmRestarts(a.T0)
		set(&s.TMult, a.TMult)
		s.EtaMin = a.EtaMin
		return s
	case "CyclicLR":
		s := DefaultCyclicLR(0, 0)
		perGroup(t, a.BaseLR, &s.BaseLR)
		perGroup(t, a.MaxLR, &s.MaxLR)
		set(&s.StepSizeUp, a.StepSizeUp)
		set(&s.StepSizeDown, a.StepSizeDown)
		set(&s.Mode, a.Mode)
		set(&s.Gamma, a.Gamma)
		if a.ScaleFn != "" {
			s.ScaleFn = scaleFns[a.ScaleFn]
		}
		set(&s.ScaleMode, a.ScaleMode)
		set(&s.CycleMomentum, a.CycleMomentum)
		perGroup(t, a.BaseMomentum, &s.BaseMomentum)
		perGroup(t, a.MaxMomentum, &s.MaxMomentum)
		return s
	case "OneCycleLR":
		s := DefaultOneCycleLR(0, a.TotalSteps)
		perGroup(t, a.MaxLR, &s.MaxLR)
		set(&s.PctStart, a.PctStart)
		set(&s.AnnealStrategy, a.AnnealStrategy)
		set(&s.CycleMomentum, a.CycleMomentum)
		perGroup(t, a.BaseMomentum, &s.BaseMomentum)
		perGroup(t, a.MaxMomentum, &s.MaxMomentum)
		set(&s.DivFactor, a.DivFactor)
		set(&s.FinalDivFactor, a.FinalDivFactor)
		s.ThreePhase = a.ThreePhase
		return s
	case "SWALR":
		s := DefaultSWALR(0)
		perGroup(t, a.SwaLR, &s.SwaLR)
		set(&s.AnnealEpochs, a.AnnealEpochs)
		set(&s.AnnealStrategy, a.AnnealStrategy)
		return s
	case "ReduceLROnPlateau":
		s := DefaultReduceLROnPlateau()
		set(&s.Mode, a.Mode)
		set(&s.Factor, a.Factor)
		set(&s.Patience, a.Patience)
		set(&s.Threshold, a.Threshold)
		set(&s.ThresholdMode, a.ThresholdMode)
		set(&s.Cooldown, a.Cooldown)
		perGroup(t, a.MinLR, &s.MinLR)
		set(&s.Eps, a.Eps)
		return s
	case "SequentialLR", "ChainedScheduler":
		var inner []Spec
		for _, pair := range a.Schedulers {
			var name string
			if err := json.Unmarshal(pair[0], &name); err != nil {
				t.Fatal(err)
			}
			inner = append(inner, specFor(t, name, pair[1]))
		}
		if class == "ChainedScheduler" {
			return ChainedScheduler{Schedulers: inner}
		}
		return SequentialLR{Schedulers: inner, Milestones: a.Milestones}
	}
	t.Fatalf("unknown scheduler %s", class)
	return nil
}

func readGolden(t *testing.T, pattern string) []goldenFile {
	t.Helper()
	paths, err := filepath.Glob(pattern)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden files %s (%v)", pattern, err)
	}
	var out []goldenFile
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var g goldenFile
		if err := json.Unmarshal(b, &g); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if base := strings.TrimSuffix(filepath.Base(p), ".json"); g.Name != base {
			t.Fatalf("%s records %q: subtests are named after their files", p, g.Name)
		}
		out = append(out, g)
	}
	return out
}

func close12(got, want float64) bool {
	return math.Abs(got-want) <= 1e-12*math.Max(math.Abs(want), 1e-300)
}

// run is a recorded configuration's schedulers on a target: the recorded
// scheduler, and the one built before it (first) if there is one.
type run struct {
	g            goldenFile
	first, sched *Scheduler
}

// newRun builds g's schedulers on tgt, in torch's order.
func newRun(t *testing.T, g goldenFile, tgt Target) *run {
	t.Helper()
	r := &run{g: g}
	var err error
	if g.First != nil {
		var class string
		if err := json.Unmarshal(g.First[0], &class); err != nil {
			t.Fatal(err)
		}
		if r.first, err = New(tgt, specFor(t, class, g.First[1])); err != nil {
			t.Fatalf("New of the first scheduler: %v", err)
		}
	}
	if r.sched, err = New(tgt, specFor(t, g.Scheduler, g.Args)); err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// stepper is the scheduler that takes step k (1-based), and the last one
// that stepped after it.
func (r *run) stepper(k int) *Scheduler {
	if k > 0 && k <= r.g.FirstSteps {
		return r.first
	}
	return r.sched
}

// step takes step k (1-based): the metric's for ReduceLROnPlateau.
func (r *run) step(k int) error {
	if r.g.Metrics != nil {
		return r.stepper(k).StepMetric(r.g.Metrics[k-1])
	}
	return r.stepper(k).Step()
}

// replay drives a fake target through a recorded schedule and checks every
// rate and momentum.
func replay(t *testing.T, g goldenFile) {
	t.Helper()
	mom := 0.9
	if g.GroupMomentum != nil {
		mom = *g.GroupMomentum
	}
	tgt := newFake(g.GroupLRs, mom)
	r := newRun(t, g, tgt)
	inexact, maxULP := 0, 0.0
	check := func(row int) {
		for i := range tgt.lr {
			for _, p := range [][2]float64{{tgt.lr[i], g.LR[row][i]}, {tgt.mom[i], g.Momentum[row][i]}} {
				if p[0] != p[1] {
					inexact++
					maxULP = math.Max(maxULP, math.Abs(p[0]-p[1])/ulp(p[1]))
				}
			}
			if !close12(tgt.lr[i], g.LR[row][i]) {
				t.Fatalf("step %d group %d: lr %v, torch %v", row, i, tgt.lr[i], g.LR[row][i])
			}
			if !close12(tgt.mom[i], g.Momentum[row][i]) {
				t.Fatalf("step %d group %d: momentum %v, torch %v", row, i, tgt.mom[i], g.Momentum[row][i])
			}
			if last := r.stepper(row).LastLR(); g.Scheduler != "ReduceLROnPlateau" && last[i] != tgt.lr[i] {
				t.Fatalf("step %d group %d: LastLR %v, target %v", row, i, last[i], tgt.lr[i])
			}
		}
	}
	check(0)
	for k := 1; k <= g.Steps; k++ {
		if err := r.step(k); err != nil {
			t.Fatalf("step %d: %v", k, err)
		}
		check(k)
	}
	if inexact > 0 {
		t.Logf("%d of %d values differ from torch's bits, by at most %.3g ulp", inexact, 2*(g.Steps+1)*len(tgt.lr), maxULP)
	}
}

// ulp is the spacing of doubles at x.
func ulp(x float64) float64 {
	x = math.Abs(x)
	return math.Nextafter(x, math.Inf(1)) - x
}

// replayDir replays every file of testdata/dir, as a subtest named after
// it, and checks that there are want of them (0: any number).
func replayDir(t *testing.T, dir string, want int) {
	files := readGolden(t, "../testdata/"+dir+"/*.json")
	if want > 0 && len(files) != want {
		t.Errorf("%d golden files in %s, want %d", len(files), dir, want)
	}
	for _, g := range files {
		t.Run(g.Name, func(t *testing.T) { replay(t, g) })
	}
}

func TestGoldenTorchSchedules(t *testing.T) { replayDir(t, "torch-schedules", 18) }

func TestExtraTorchSchedules(t *testing.T) { replayDir(t, "torch-schedules/extra", 0) }

// TestGoldenSWALR replays torch's SWALR (testdata/torch-swalr), cos and
// linear, with 0, 1 and more anneal epochs, one and two groups, alone, in
// SequentialLR and ChainedScheduler, and after another scheduler.
func TestGoldenSWALR(t *testing.T) { replayDir(t, "torch-swalr", 12) }

// allGolden is every recorded schedule.
func allGolden(t *testing.T) []goldenFile {
	var files []goldenFile
	for _, dir := range []string{"torch-schedules", "torch-schedules/extra", "torch-swalr"} {
		files = append(files, readGolden(t, "../testdata/"+dir+"/*.json")...)
	}
	return files
}
