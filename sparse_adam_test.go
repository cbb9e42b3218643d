package optim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func init() { matrixReplayers["SparseAdam"] = replaySparseAdamGolden }

// sparseAdamGolden is a SparseAdam file of testdata/torch-matrix (see its
// README).
type sparseAdamGolden struct {
	Dtype string         `json:"dtype"`
	Shape []int          `json:"shape"`
	Hyper map[string]any `json:"hyper"`
	P0    []float64      `json:"params0"`
	Rows  [][]int        `json:"rows"`
	Grads [][]float64    `json:"grads"`
	Ps    [][]float64    `json:"params"`
}

// sparseAdamFromHyper is torch's SparseAdam(**hyper): torch's defaults
// for what hyper does not give.
func sparseAdamFromHyper(t *testing.T, hyper map[string]any) SparseAdam {
	t.Helper()
	cfg := DefaultSparseAdam()
	for k, v := range hyper {
		switch k {
		case "lr":
			cfg.LR = v.(float64)
		case "eps":
			cfg.Eps = v.(float64)
		case "betas":
			b := v.([]any)
			cfg.Beta1, cfg.Beta2 = b[0].(float64), b[1].(float64)
		case "maximize":
			cfg.Maximize = v.(bool)
		default:
			t.Fatalf("hyperparameter %q unknown to SparseAdam", k)
		}
	}
	return cfg
}

// replaySparseAdamGolden replays a torch SparseAdam run; the tolerance is
// bit-exactness, reported as the largest error relative to max(1, |v|)
// and held to the README's bound for the other classes (2e-6 float32,
// 1e-13 float64) as a ceiling.
func replaySparseAdamGolden(t *testing.T, raw []byte) {
	var g sparseAdamGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	cfg := sparseAdamFromHyper(t, g.Hyper)
	if g.Dtype == "float32" {
		replaySparseAdam[float32](t, g, cfg, 2e-6)
	} else {
		replaySparseAdam[float64](t, g, cfg, 1e-13)
	}
}

// replaySparseAdamExact replays a file as replaySparseAdamGolden, and
// requires torch's bits.
func replaySparseAdamExact(t *testing.T, raw []byte) {
	var g sparseAdamGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	cfg := sparseAdamFromHyper(t, g.Hyper)
	if g.Dtype == "float32" {
		replaySparseAdam[float32](t, g, cfg, 0)
	} else {
		replaySparseAdam[float64](t, g, cfg, 0)
	}
}

func replaySparseAdam[T testFloat](t *testing.T, g sparseAdamGolden, cfg SparseAdam, tol float64) {
	if len(g.Shape) != 2 {
		t.Fatalf("shape %v, want 2-D", g.Shape)
	}
	p := make([]T, len(g.P0))
	for i, v := range g.P0 {
		p[i] = T(v)
	}
	o, err := NewSparseAdam(cfg, Table[T]{Data: p, Cols: g.Shape[1]})
	if err != nil {
		t.Fatal(err)
	}
	worst, mismatched := 0.0, 0
	for s := range g.Rows {
		vals := make([]T, len(g.Grads[s]))
		for i, v := range g.Grads[s] {
			vals[i] = T(v)
		}
		rows := g.Rows[s]
		if rows == nil {
			rows = []int{}
		}
		if err := o.Step(SparseGrad[T]{Rows: rows, Values: vals}); err != nil {
			t.Fatal(err)
		}
		for j, want := range g.Ps[s] {
			if p[j] != T(want) {
				mismatched++
			}
			d := math.Abs(float64(p[j])-want) / math.Max(1, math.Abs(want))
			worst = math.Max(worst, d)
			if !(d <= tol) {
				t.Fatalf("step %d, element %d: got %v, want %v (relative error %.3g > %.3g)", s+1, j, p[j], want, d, tol)
			}
		}
	}
	// The public files replay bit for bit; a held-out file may differ
	// where detmath.Pow and the C library's pow round β^t apart.
	t.Logf("%d steps: %d elements differ from torch's bits, worst relative error %.3g", len(g.Rows), mismatched, worst)
}

// TestSparseAdamTorchRepeated replays torch runs whose gradients repeat
// rows, in any order, with up to 300 entries (testdata/torch-sparse-adam),
// bit for bit: torch sums each row's values in the order of its unstable
// sort, which torchSort reproduces (the order of appearance would differ
// in 55 float32 and 103 float64 elements).
func TestSparseAdamTorchRepeated(t *testing.T) {
	files, _ := filepath.Glob("testdata/torch-sparse-adam/repeated_*.json.gz")
	if len(files) != 2 {
		t.Fatalf("%d files of repeated rows, want 2", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { replaySparseAdamExact(t, readGzip(t, f)) })
	}
}

// sparseResume is a resume_*.json.gz record of testdata/torch-sparse-adam.
type sparseResume struct {
	Dtype  string         `json:"dtype"`
	Shapes [][2]int       `json:"shapes"`
	Hyper  map[string]any `json:"hyper"`
	Step   int64          `json:"checkpoint_step"`
	P0     [][]float64    `json:"params_at_checkpoint"`
	Rows   [][][]int      `json:"rows"`
	Grads  [][][]float64  `json:"grads"`
	Params [][][]float64  `json:"params"`
}

// TestSparseAdamTorchResume loads torch's SparseAdam state_dict (written
// by testdata/torch-sparse-adam/generate.py: a table that has stepped and
// one without state) into an optimizer of torch's defaults, whose
// hyperparameters the file replaces, and continues torch's run bit for
// bit.
func TestSparseAdamTorchResume(t *testing.T) {
	for _, dt := range []string{"float32", "float64"} {
		t.Run(dt, func(t *testing.T) {
			var run sparseResume
			if err := json.Unmarshal(readGzip(t, "testdata/torch-sparse-adam/resume_"+dt+".json.gz"), &run); err != nil {
				t.Fatal(err)
			}
			ck := "testdata/torch-sparse-adam/resume_" + dt + ".safetensors"
			if dt == "float32" {
				resumeSparse[float32](t, run, ck)
			} else {
				resumeSparse[float64](t, run, ck)
			}
		})
	}
}

func resumeSparse[T testFloat](t *testing.T, run sparseResume, ck string) {
	tables := make([]Table[T], len(run.P0))
	for i, p := range run.P0 {
		tables[i] = Table[T]{Data: make([]T, len(p)), Cols: run.Shapes[i][1]}
		for j, v := range p {
			tables[i].Data[j] = T(v)
		}
	}
	o, err := NewSparseAdam(DefaultSparseAdam(), tables...)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.LoadFile(ck); err != nil {
		t.Fatal(err)
	}
	if want := sparseAdamFromHyper(t, run.Hyper); o.Config() != want {
		t.Fatalf("loaded %+v, want %+v", o.Config(), want)
	}
	for i, want := range []int64{run.Step, 0} {
		if st, _ := o.State(i); st.Step != want {
			t.Fatalf("table %d: step %d after Load, want %d", i, st.Step, want)
		}
	}
	for s := range run.Rows {
		grads := make([]SparseGrad[T], len(tables))
		for i := range tables {
			grads[i].Rows = run.Rows[s][i]
			for _, v := range run.Grads[s][i] {
				grads[i].Values = append(grads[i].Values, T(v))
			}
		}
		if err := o.Step(grads...); err != nil {
			t.Fatal(err)
		}
		for i := range tables {
			for j, want := range run.Params[s][i] {
				if got := tables[i].Data[j]; got != T(want) {
					t.Fatalf("step %d after the checkpoint, table %d [%d]: got %v, want torch's %v", s+1, i, j, got, want)
				}
			}
		}
	}
}

// sparseRun builds an optimizer of cfg over two tables (5×3 and 4×2) and
// takes steps steps of gradients from seed, some with repeated rows, some
// without a gradient for a table.
func sparseRun[T testFloat](t *testing.T, cfg SparseAdam, steps int, seed uint64) (*SparseAdamOptimizer[T], []Table[T]) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	tables := []Table[T]{{Data: make([]T, 15), Cols: 3}, {Data: make([]T, 8), Cols: 2}}
	for _, tb := range tables {
		for j := range tb.Data {
			tb.Data[j] = T(r.IntN(1<<12)-1<<11) * 0x1p-10
		}
	}
	o, err := NewSparseAdam(cfg, tables...)
	if err != nil {
		t.Fatal(err)
	}
	sparseSteps(t, o, r, steps)
	return o, tables
}

func sparseSteps[T testFloat](t *testing.T, o *SparseAdamOptimizer[T], r *rand.Rand, steps int) {
	t.Helper()
	for range steps {
		grads := make([]SparseGrad[T], len(o.tables))
		for i, tb := range o.tables {
			if r.IntN(4) == 0 {
				continue // no gradient
			}
			// Up to 30 entries: repeats past torch's 16-entry insertion sort.
			for range 1 + r.IntN(6*tb.Rows()) {
				grads[i].Rows = append(grads[i].Rows, r.IntN(tb.Rows()))
				for range tb.Cols {
					v := T(r.IntN(1<<20)-1<<19) * 0x1p-18
					// Now and then a huge or tiny one (exact powers of two):
					// squares that overflow float32 or vanish.
					switch r.IntN(32) {
					case 0:
						v *= 0x1p70
					case 1:
						v *= 0x1p-80
					}
					grads[i].Values = append(grads[i].Values, v)
				}
			}
		}
		if err := o.Step(grads...); err != nil {
			t.Fatal(err)
		}
	}
}

// sparseFingerprint hashes the tables, the configuration, the step counts
// and the moments, bit for bit (NaNs canonicalized).
func sparseFingerprint[T testFloat](o *SparseAdamOptimizer[T]) uint64 {
	d := &digestWriter{h: fnv.New64a()}
	c := o.cfg
	for _, x := range []float64{c.LR, c.Beta1, c.Beta2, c.Eps} {
		d.word(math.Float64bits(x))
	}
	if c.Maximize {
		d.word(1)
	}
	for i := range o.tables {
		d.word(uint64(o.steps[i]))
		digestSlice(d, o.tables[i].Data)
		digestSlice(d, o.expAvg[i])
		digestSlice(d, o.expSq[i])
	}
	return d.h.Sum64()
}

// TestSparseAdamDigest holds the trajectories of a few configurations,
// float32 and float64, to one recorded digest: the same bits natively,
// at GOAMD64=v3, with -tags noasm, under every OPTIM_ISA and on arm64
// (SparseAdam is plain Go whose products are rounded before their sums).
// Recorded with `go test -run TestSparseAdamDigest -v .`.
func TestSparseAdamDigest(t *testing.T) {
	const want = 0x9c4da14465ec8768
	d := &digestWriter{h: fnv.New64a()}
	for k, cfg := range []SparseAdam{
		DefaultSparseAdam(),
		{LR: 0.05, Beta1: 0.5, Beta2: 0.97, Eps: 1e-6, Maximize: true},
		{LR: 0.3, Beta1: 0, Beta2: 0.9999, Eps: 1e-3},
		{LR: 2, Beta1: 0.99, Beta2: 0.5, Eps: 1e-30},
	} {
		o32, _ := sparseRun[float32](t, cfg, 40, uint64(k))
		o64, _ := sparseRun[float64](t, cfg, 40, uint64(k))
		d.word(sparseFingerprint(o32))
		d.word(sparseFingerprint(o64))
	}
	if got := d.h.Sum64(); got != want {
		t.Errorf("digest %#x, want %#x", got, uint64(want))
	}
}

// TestSparseAdamRepeatedRows: repeated rows step as their sum, added in
// the order they appear; Maximize steps as the negated gradient; order
// of distinct rows does not matter.
func TestSparseAdamRepeatedRows(t *testing.T) {
	newOpt := func(cfg SparseAdam) (*SparseAdamOptimizer[float32], []float32) {
		p := []float32{1, 2, 3, 4, 5, 6, 7, 8}
		o, err := NewSparseAdam(cfg, Table[float32]{Data: p, Cols: 2})
		if err != nil {
			t.Fatal(err)
		}
		return o, p
	}
	a, pa := newOpt(DefaultSparseAdam())
	b, pb := newOpt(DefaultSparseAdam())
	big, small := float32(1<<24), float32(1)
	// Row 2 three times: (big + small) + -big = 0 in float32 (big+small
	// rounds to big), while big + (small + -big) would not be 0.
	if err := a.Step(SparseGrad[float32]{Rows: []int{2, 0, 2, 2}, Values: []float32{big, big, 0.5, -1, small, small, -big, -big}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Step(SparseGrad[float32]{Rows: []int{0, 2}, Values: []float32{0.5, -1, 0, 0}}); err != nil {
		t.Fatal(err)
	}
	if sparseFingerprint(a) != sparseFingerprint(b) {
		t.Fatalf("repeated rows: %v, want %v", pa, pb)
	}
	c, pc := newOpt(SparseAdam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Maximize: true})
	if err := c.Step(SparseGrad[float32]{Rows: []int{2, 0}, Values: []float32{0, 0, -0.5, 1}}); err != nil {
		t.Fatal(err)
	}
	for j := range pc {
		if pc[j] != pb[j] {
			t.Fatalf("maximize: %v, want %v", pc, pb)
		}
	}
	// The scratch is left clean: a later step without repeats is as a
	// fresh optimizer's second step.
	for _, o := range []*SparseAdamOptimizer[float32]{a, b} {
		if err := o.Step(SparseGrad[float32]{Rows: []int{3, 2}, Values: []float32{1, 2, 3, 4}}); err != nil {
			t.Fatal(err)
		}
	}
	if sparseFingerprint(a) != sparseFingerprint(b) {
		t.Fatal("a step after repeated rows differs")
	}
}

// TestSparseAdamNoGradient: a gradient without rows leaves the table and
// its step count alone, so the next step's bias corrections are those of
// the steps that had a gradient.
func TestSparseAdamNoGradient(t *testing.T) {
	mk := func() (*SparseAdamOptimizer[float64], []float64) {
		p := []float64{1, -2, 3, -4}
		o, err := NewSparseAdam(DefaultSparseAdam(), Table[float64]{Data: p, Cols: 2})
		if err != nil {
			t.Fatal(err)
		}
		return o, p
	}
	g := SparseGrad[float64]{Rows: []int{1}, Values: []float64{0.5, -0.25}}
	a, _ := mk()
	b, _ := mk()
	for _, skip := range []SparseGrad[float64]{{}, {Rows: []int{}}, {Rows: []int{}, Values: []float64{}}} {
		before := sparseFingerprint(a)
		if err := a.Step(skip); err != nil {
			t.Fatal(err)
		}
		if sparseFingerprint(a) != before {
			t.Fatalf("%+v changed the optimizer", skip)
		}
	}
	for _, o := range []*SparseAdamOptimizer[float64]{a, b} {
		if err := o.Step(g); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := a.State(0); st.Step != 1 || sparseFingerprint(a) != sparseFingerprint(b) {
		t.Fatalf("step %d after steps without gradients", st.Step)
	}
	// A row absent from the gradient keeps its parameters and moments.
	if st, _ := a.State(0); st.ExpAvg[0] != 0 || st.ExpAvgSq[1] != 0 || st.ExpAvg[2] == 0 {
		t.Fatalf("state %+v", st)
	}
}

// TestSparseAdamErrors: every error is typed, names what is wrong, and
// changes nothing.
func TestSparseAdamErrors(t *testing.T) {
	for _, c := range []struct {
		cfg   SparseAdam
		field string
	}{
		{SparseAdam{LR: 0, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, "LR"},
		{SparseAdam{LR: math.NaN(), Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, "LR"},
		{SparseAdam{LR: math.Inf(1), Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, "LR"},
		{SparseAdam{LR: 1e38, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, "LR"}, // LR/(1-β1) overflows float32
		{SparseAdam{LR: 1e-3, Beta1: 1, Beta2: 0.999, Eps: 1e-8}, "Beta1"},
		{SparseAdam{LR: 1e-3, Beta1: -0.1, Beta2: 0.999, Eps: 1e-8}, "Beta1"},
		{SparseAdam{LR: 1e-3, Beta1: 0.9, Beta2: 1, Eps: 1e-8}, "Beta2"},
		{SparseAdam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 0}, "Eps"},
		{SparseAdam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-50}, "Eps"}, // 0 in float32
		{SparseAdam{LR: 1e-3}, "Eps"},
	} {
		_, err := NewSparseAdam(c.cfg, Table[float32]{Data: make([]float32, 4), Cols: 2})
		var he *HyperparameterError
		if !errors.As(err, &he) || he.Field != c.field || he.Rule != "SparseAdam" {
			t.Errorf("%+v: %v, want a *HyperparameterError on %s", c.cfg, err, c.field)
		}
	}
	if _, err := NewSparseAdam(SparseAdam{LR: 1e38, Beta1: 0.9, Beta2: 0.999, Eps: 1e-50}, Table[float64]{Data: make([]float64, 4), Cols: 2}); err != nil {
		t.Errorf("float64 holds LR 1e38 and Eps 1e-50: %v", err)
	}

	p := make([]float32, 12)
	var he *HyperparameterError
	if _, err := NewSparseAdam(DefaultSparseAdam(), Table[float32]{Data: p, Cols: 5}); !errors.As(err, &he) || !strings.Contains(err.Error(), "tables[0].Cols = 5, want a positive divisor of len(tables[0].Data) = 12") {
		t.Errorf("12 values in rows of 5: %v, want a *HyperparameterError", err)
	}
	if _, err := NewSparseAdam(DefaultSparseAdam(), Table[float32]{Data: p, Cols: 0}); !errors.As(err, &he) {
		t.Errorf("Cols 0: %v, want a *HyperparameterError", err)
	}
	var se *ShapeError
	var oe *OverlapError
	if _, err := NewSparseAdam(DefaultSparseAdam(), Table[float32]{Data: p[:6], Cols: 3}, Table[float32]{Data: p[3:9], Cols: 3}); !errors.As(err, &oe) {
		t.Errorf("overlapping tables: %v, want an *OverlapError", err)
	}

	o, err := NewSparseAdam(DefaultSparseAdam(), Table[float32]{Data: p[:6], Cols: 3}, Table[float32]{Data: p[6:], Cols: 2})
	if err != nil {
		t.Fatal(err)
	}
	good := SparseGrad[float32]{Rows: []int{1}, Values: []float32{1, 2, 3}}
	if err := o.Step(good, SparseGrad[float32]{Rows: []int{2}, Values: []float32{1, 1}}); err != nil {
		t.Fatal(err)
	}
	before := sparseFingerprint(o)
	fails := func(what string, target any, want string, grads ...SparseGrad[float32]) {
		t.Helper()
		err := o.Step(grads...)
		if err == nil || !errors.As(err, target) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a %T mentioning %q", what, err, target, want)
		}
		if sparseFingerprint(o) != before {
			t.Fatalf("%s: the failed Step changed the optimizer", what)
		}
	}
	var ge *SparseGradError
	fails("one gradient for two tables", &se, "got 1 gradients for 2 params", good)
	fails("values too short", &ge, "grad 1 has 3 values, want 4", good, SparseGrad[float32]{Rows: []int{0, 1}, Values: []float32{1, 2, 3}})
	fails("values without rows", &ge, "grad 1 has 2 values, want 0", good, SparseGrad[float32]{Rows: []int{}, Values: []float32{1, 2}})
	fails("row out of range", &ge, "Rows[1] = 3 is out of range [0, 3)", good, SparseGrad[float32]{Rows: []int{0, 3}, Values: []float32{1, 2, 3, 4}})
	fails("negative row", &ge, "Rows[0] = -1", SparseGrad[float32]{Rows: []int{-1}, Values: []float32{1, 2, 3}}, SparseGrad[float32]{})
	fails("values in the table", &oe, "grad 1 overlaps param 0", good, SparseGrad[float32]{Rows: []int{0}, Values: p[4:6]})
	st, _ := o.State(0)
	fails("values in the state", &oe, "exp_avg_sq state of param 0", SparseGrad[float32]{Rows: []int{0}, Values: st.ExpAvgSq[:3]}, SparseGrad[float32]{})
	var ie *IndexError
	if _, err := o.State(2); !errors.As(err, &ie) {
		t.Errorf("State(2): %v, want an *IndexError", err)
	}
	if err := o.SetConfig(SparseAdam{LR: -1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}); !errors.As(err, &he) || o.Config() != DefaultSparseAdam() {
		t.Errorf("SetConfig(LR -1): %v, config %+v", err, o.Config())
	}
	o.steps[1] = math.MaxInt64
	before = sparseFingerprint(o)
	var ste *StateError
	fails("step count at its end", &ste, "step count", SparseGrad[float32]{}, SparseGrad[float32]{Rows: []int{0}, Values: []float32{1, 1}})
}

// TestSparseAdamNoAllocs: Step allocates nothing once its scratch has
// grown for the gradients it meets, repeated rows included.
func TestSparseAdamNoAllocs(t *testing.T) {
	a, b := make([]float32, 64*16), make([]float32, 8*4)
	o, err := NewSparseAdam(DefaultSparseAdam(), Table[float32]{Data: a, Cols: 16}, Table[float32]{Data: b, Cols: 4})
	if err != nil {
		t.Fatal(err)
	}
	g1 := SparseGrad[float32]{Rows: []int{5, 9, 5, 63, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 9, 9}, Values: make([]float32, 20*16)}
	g2 := SparseGrad[float32]{Rows: []int{7, 1}, Values: make([]float32, 2*4)}
	for i := range g1.Values {
		g1.Values[i] = float32(i%7) - 3
	}
	if n := testing.AllocsPerRun(20, func() {
		if err := o.Step(g1, g2); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Step allocates %v times per call", n)
	}
}

// TestSparseAdamCheckpointRoundTrip: Save and Load (and their File forms)
// restore the configuration, the step counts and the moments, and the
// run continues with the uninterrupted run's bits; Save is deterministic;
// a damaged file is refused and changes nothing.
func TestSparseAdamCheckpointRoundTrip(t *testing.T) {
	cfg := SparseAdam{LR: 0.02, Beta1: 0.8, Beta2: 0.99, Eps: 1e-7, Maximize: true}
	o, tables := sparseRun[float64](t, cfg, 9, 3)
	if o.steps[0] == 0 || o.steps[1] == 0 {
		t.Fatalf("steps %v: want both tables stepped", o.steps)
	}
	path := filepath.Join(t.TempDir(), "sparse.safetensors")
	if err := o.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := o.Save(&buf); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if file, _ := os.ReadFile(path); !bytes.Equal(file, data) {
		t.Fatal("SaveFile and Save wrote different bytes")
	}

	// A fresh optimizer over copies of the tables, of other hyperparameters.
	copies := []Table[float64]{{Data: slices.Clone(tables[0].Data), Cols: 3}, {Data: slices.Clone(tables[1].Data), Cols: 2}}
	r, err := NewSparseAdam(DefaultSparseAdam(), copies...)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if sparseFingerprint(r) != sparseFingerprint(o) {
		t.Fatal("the loaded state differs")
	}
	var again bytes.Buffer
	if err := r.Save(&again); err != nil || !bytes.Equal(again.Bytes(), data) {
		t.Fatalf("saving the loaded state gives other bytes (%v)", err)
	}
	sparseSteps(t, o, rand.New(rand.NewPCG(9, 9)), 6)
	sparseSteps(t, r, rand.New(rand.NewPCG(9, 9)), 6)
	if sparseFingerprint(r) != sparseFingerprint(o) {
		t.Fatal("the resumed run differs from the uninterrupted one")
	}

	// Before any step: no state tensors, and loading it resets the state.
	e, _ := NewSparseAdam(cfg, Table[float64]{Data: make([]float64, 15), Cols: 3}, Table[float64]{Data: make([]float64, 8), Cols: 2})
	var empty bytes.Buffer
	if err := e.Save(&empty); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(empty.Bytes(), []byte("state.")) {
		t.Error("a checkpoint before any step has state tensors")
	}
	if err := r.Load(bytes.NewReader(empty.Bytes())); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if st, _ := r.State(i); st.Step != 0 || slices.ContainsFunc(st.ExpAvg, func(x float64) bool { return x != 0 }) {
			t.Fatalf("table %d after loading a fresh state: %+v", i, st)
		}
	}

	// Damage and mismatches: refused, nothing changed.
	o2, _ := sparseRun[float64](t, cfg, 3, 4)
	flipped := slices.Clone(data)
	flipped[len(flipped)-3] ^= 1
	sparseLoadFails(t, "a flipped bit", o2, flipped, "checksum")
	sparseLoadFails(t, "truncated", o2, data[:len(data)-5], "reading tensor")
	sparseLoadFails(t, "trailing data", o2, append(slices.Clone(data), 0), "data beyond")
	f32, _ := NewSparseAdam(cfg, Table[float32]{Data: make([]float32, 15), Cols: 3}, Table[float32]{Data: make([]float32, 8), Cols: 2})
	if err := f32.Load(bytes.NewReader(data)); err == nil || !strings.Contains(err.Error(), "element type") {
		t.Errorf("a float64 file into float32: %v", err)
	}
	other, _ := NewSparseAdam(cfg, Table[float64]{Data: make([]float64, 15), Cols: 5}, Table[float64]{Data: make([]float64, 8), Cols: 2})
	sparseLoadFails(t, "another shape", other, data, "shape [5 3], want the table's [3 5]")
	one, _ := NewSparseAdam(cfg, Table[float64]{Data: make([]float64, 15), Cols: 3})
	sparseLoadFails(t, "fewer tables", one, data, "state.1.")

	// An optimizer checkpoint of another class is refused.
	adam, _ := New(DefaultAdam(), make([]float64, 4))
	if err := adam.Step(make([]float64, 4)); err != nil {
		t.Fatal(err)
	}
	var ab bytes.Buffer
	if err := adam.Save(&ab); err != nil {
		t.Fatal(err)
	}
	sparseLoadFails(t, "an Adam checkpoint", one, ab.Bytes(), "not a SparseAdam checkpoint")
	if err := adam.Load(bytes.NewReader(data)); err == nil {
		t.Error("Optimizer.Load took a SparseAdam checkpoint")
	}
}

// sparseLoadFails checks that loading data into o fails with a
// *CheckpointError, *ShapeError or *StateError mentioning want, and
// changes nothing.
func sparseLoadFails[T testFloat](t *testing.T, what string, o *SparseAdamOptimizer[T], data []byte, want string) {
	t.Helper()
	before := sparseFingerprint(o)
	err := o.Load(bytes.NewReader(data))
	var ce *CheckpointError
	var se *ShapeError
	var ste *StateError
	if err == nil || !(errors.As(err, &ce) || errors.As(err, &se) || errors.As(err, &ste)) || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: %v, want a typed error mentioning %q", what, err, want)
	}
	if sparseFingerprint(o) != before {
		t.Fatalf("%s: the failed Load changed the optimizer", what)
	}
}

// TestSparseAdamTorchLayout: torch's layout without the marker loads only
// as torch writes it.
func TestSparseAdamTorchLayout(t *testing.T) {
	groups := `[{"lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-07, "maximize": false, "params": [0]}]`
	meta := map[string]string{"param_groups": groups, "torch": "1.13.1", "optimizer": "SparseAdam"}
	i64 := func(n int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(n)) }
	good := []torchTensor{
		{"state.0.step", "I64", []int64{}, i64(3)},
		{"state.0.exp_avg", "F32", []int64{2, 2}, f32s(1, 2, 3, 4)},
		{"state.0.exp_avg_sq", "F32", []int64{2, 2}, f32s(1, 2, 3, 4)},
	}
	mk := func() *SparseAdamOptimizer[float32] {
		o, err := NewSparseAdam(DefaultSparseAdam(), Table[float32]{Data: make([]float32, 4), Cols: 2})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	o := mk()
	if err := o.Load(bytes.NewReader(torchFile(meta, good))); err != nil {
		t.Fatal(err)
	}
	if st, _ := o.State(0); st.Step != 3 || st.ExpAvgSq[3] != 4 || o.Config().LR != 0.02 || o.Config().Beta1 != 0.8 {
		t.Fatalf("loaded %+v, %+v", st, o.Config())
	}
	with := func(k int, tn torchTensor) []byte {
		ts := slices.Clone(good)
		ts[k] = tn
		return torchFile(meta, ts)
	}
	withMeta := func(key, value string) []byte {
		m := maps.Clone(meta)
		m[key] = value
		return torchFile(m, good)
	}
	o = mk()
	if err := o.Load(bytes.NewReader(with(0, torchTensor{"state.0.step", "F32", []int64{}, f32s(3)}))); err != nil {
		t.Errorf("an F32 step: %v", err)
	}
	for _, c := range []struct {
		what string
		data []byte
		want string
	}{
		{"a 1-d step", with(0, torchTensor{"state.0.step", "I64", []int64{1}, i64(3)}), "0-d"},
		{"a fractional step", with(0, torchTensor{"state.0.step", "F32", []int64{}, f32s(2.5)}), "not a count"},
		{"a negative step", with(0, torchTensor{"state.0.step", "I64", []int64{}, i64(-1)}), "step count -1"},
		{"a step of 0 with state", with(0, torchTensor{"state.0.step", "I64", []int64{}, i64(0)}), "step 0 beside state tensors"},
		{"a flat moment", with(1, torchTensor{"state.0.exp_avg", "F32", []int64{4}, f32s(1, 2, 3, 4)}), "want the table's [2 2]"},
		{"an F64 moment", with(1, torchTensor{"state.0.exp_avg", "F64", []int64{2, 2}, make([]byte, 32)}), "dtype F64"},
		{"a NaN moment", with(1, torchTensor{"state.0.exp_avg", "F32", []int64{2, 2}, f32s(1, nan32(), 3, 4)}), "element 1 is NaN"},
		{"a negative square", with(2, torchTensor{"state.0.exp_avg_sq", "F32", []int64{2, 2}, f32s(1, 2, -3, 4)}), "want a number >= 0"},
		{"a missing moment", torchFile(meta, good[:2]), "1 of its 3 state tensors are missing"},
		{"a foreign tensor", torchFile(meta, append(slices.Clone(good), torchTensor{"state.0.sum", "F32", []int64{2, 2}, f32s(1, 2, 3, 4)})), "state.0.sum"},
		{"another class", withMeta("optimizer", "Adam"), "torch's Adam"},
		{"an unknown key", withMeta("what", "x"), `"what"`},
		{"two groups", withMeta("param_groups", `[{"lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-07, "maximize": false, "params": [0]}, {"lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-07, "maximize": false, "params": []}]`), "2 parameter groups"},
		{"a weight decay", withMeta("param_groups", `[{"lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-07, "maximize": false, "weight_decay": 0, "params": [0]}]`), `"weight_decay"`},
		{"a duplicate lr", withMeta("param_groups", `[{"lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-07, "maximize": false, "lr": 1, "params": [0]}]`), `"lr" appears twice`},
		{"a missing eps", withMeta("param_groups", `[{"lr": 0.02, "betas": [0.8, 0.99], "maximize": false, "params": [0]}]`), `"eps" is missing`},
		{"one beta", withMeta("param_groups", `[{"lr": 0.02, "betas": [0.8], "eps": 1e-07, "maximize": false, "params": [0]}]`), "betas has 1"},
		{"params out of order", withMeta("param_groups", `[{"lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-07, "maximize": false, "params": [1]}]`), "params[0] = 1"},
	} {
		sparseLoadFails(t, c.what, o, c.data, c.want)
	}
	var he *HyperparameterError
	if err := o.Load(bytes.NewReader(withMeta("param_groups", `[{"lr": 0, "betas": [0.8, 0.99], "eps": 1e-07, "maximize": false, "params": [0]}]`))); !errors.As(err, &he) {
		t.Errorf("lr 0: %v, want a *HyperparameterError", err)
	}
	// Without maximize (torch before 1.13): false.
	if err := o.Load(bytes.NewReader(withMeta("param_groups", `[{"lr": 0.03, "betas": [0.8, 0.99], "eps": 1e-07, "params": [0]}]`))); err != nil || o.Config().Maximize || o.Config().LR != 0.03 {
		t.Fatalf("no maximize: %v, %+v", err, o.Config())
	}
	// Without state: a fresh table, step 0; with a torch 2.x flag, ignored.
	m := maps.Clone(meta)
	m["param_groups"] = `[{"lr": 0.5, "betas": [0.8, 0.99], "eps": 1e-07, "maximize": true, "differentiable": false, "params": [0]}]`
	if err := o.Load(bytes.NewReader(torchFile(m, nil))); err != nil || !o.Config().Maximize {
		t.Fatalf("no state: %v, %+v", err, o.Config())
	}
}

// TestSparseAdamCheckpointHostile: what Load reads is bounded by the
// optimizer: a header length beyond its limit, more tensors than it has,
// names and shapes beyond what it may hold, are refused before anything
// is built for them, and never panic.
func TestSparseAdamCheckpointHostile(t *testing.T) {
	o, _ := sparseRun[float32](t, DefaultSparseAdam(), 2, 5)
	var buf bytes.Buffer
	if err := o.Save(&buf); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	huge := slices.Clone(data)
	binary.LittleEndian.PutUint64(huge, 1<<40)
	sparseLoadFails(t, "a header length of 1 TiB", o, huge, "exceeds the limit")
	meta := map[string]string{"param_groups": `[{"lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-08, "maximize": false, "params": [0, 1]}]`}
	var many []torchTensor
	for i := range 8 {
		many = append(many, torchTensor{fmt.Sprintf("state.%d.step", i), "I64", []int64{}, make([]byte, 8)})
	}
	sparseLoadFails(t, "more tensors than the tables have", o, torchFile(meta, many), "state.2.step")
	sparseLoadFails(t, "a long name", o, torchFile(meta, []torchTensor{{strings.Repeat("x", 1000), "F32", []int64{}, make([]byte, 4)}}), "malformed")
	sparseLoadFails(t, "a 3-d moment", o, torchFile(meta, []torchTensor{{"state.0.exp_avg", "F32", []int64{1, 1, 1}, make([]byte, 4)}}), "malformed")
	sparseLoadFails(t, "an unknown metadata key", o, torchFile(map[string]string{"param_groups": meta["param_groups"], "x": "y"}, nil), `"x"`)
	sparseLoadFails(t, "no param_groups", o, torchFile(map[string]string{"torch": "1.13.1"}, nil), "param_groups is missing")
	for n := range len(data) {
		if err := o.Load(bytes.NewReader(data[:n])); err == nil {
			t.Fatalf("%d of %d bytes loaded", n, len(data))
		}
	}
}

// TestTorchSort: torchSort sorts by row and permutes, for random inputs
// with repeats, sorted and reversed ones, and a median-of-3 killer that
// reaches its heapsort; up to 16 entries it is stable, as libstdc++'s
// insertion sort is. (Its order of equal rows is checked against torch's
// by TestSparseAdamTorchRepeated.)
func TestTorchSort(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	killer := func(n int) []int {
		a := make([]int, n)
		k := n / 2
		for i := 1; i <= k; i++ {
			if i%2 == 1 {
				a[i-1], a[i] = i, k+i
			}
			a[k+i-1] = 2 * i
		}
		return a
	}
	var inputs [][]int
	for _, n := range []int{0, 1, 2, 15, 16, 17, 100, 1000} {
		for _, keys := range []int{1, 3, n + 1} {
			in := make([]int, n)
			for i := range in {
				in[i] = r.IntN(keys)
			}
			inputs = append(inputs, in, slices.Sorted(slices.Values(in)))
			rev := slices.Sorted(slices.Values(in))
			slices.Reverse(rev)
			inputs = append(inputs, rev)
		}
	}
	k := killer(256)
	for i := range k {
		k[i] /= 4
	}
	inputs = append(inputs, k)
	for _, in := range inputs {
		a := make([]coalesceEntry, len(in))
		for i, row := range in {
			a[i] = coalesceEntry{row, i}
		}
		torchSort(a)
		seen := make([]bool, len(in))
		for i, e := range a {
			if i > 0 && a[i-1].row > e.row || in[e.pos] != e.row || seen[e.pos] {
				t.Fatalf("torchSort(%v) = %v: not a sorted permutation", in, a)
			}
			seen[e.pos] = true
			if len(in) <= 16 && i > 0 && a[i-1].row == e.row && a[i-1].pos > e.pos {
				t.Fatalf("torchSort(%v) = %v: not stable at %d entries", in, a, len(in))
			}
		}
	}
}

// FuzzSparseAdamLoad: Load never panics, never changes anything when it
// fails, and what it accepts saves and loads back to the same state.
func FuzzSparseAdamLoad(f *testing.F) {
	mk := func() *SparseAdamOptimizer[float32] {
		o, err := NewSparseAdam(DefaultSparseAdam(), Table[float32]{Data: make([]float32, 6), Cols: 3}, Table[float32]{Data: make([]float32, 4), Cols: 2})
		if err != nil {
			f.Fatal(err)
		}
		return o
	}
	seed := mk()
	if err := seed.Step(SparseGrad[float32]{Rows: []int{1, 0, 1}, Values: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}}, SparseGrad[float32]{}); err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := seed.Save(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(toTorchLayout(f, buf.Bytes()))
	f.Fuzz(func(t *testing.T, data []byte) {
		o := mk()
		before := sparseFingerprint(o)
		if err := o.Load(bytes.NewReader(data)); err != nil {
			if sparseFingerprint(o) != before {
				t.Fatalf("a failed Load (%v) changed the optimizer", err)
			}
			return
		}
		var out bytes.Buffer
		if err := o.Save(&out); err != nil {
			t.Fatal(err)
		}
		r := mk()
		if err := r.Load(bytes.NewReader(out.Bytes())); err != nil {
			t.Fatalf("an accepted state does not load back: %v", err)
		}
		if sparseFingerprint(r) != sparseFingerprint(o) {
			t.Fatal("an accepted state loads back changed")
		}
	})
}
