package optim

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// rosenbrockSplit is rosenbrock over the concatenation of params, with
// the gradient written into grads, the buffers of the same lengths.
func rosenbrockSplit[T float32 | float64](params, grads [][]T) T {
	var x []T
	for _, p := range params {
		x = append(x, p...)
	}
	g := make([]T, len(x))
	loss := rosenbrock(x, g)
	for i, dst := range grads {
		g = g[copy(dst, g):]
		_ = i
	}
	return loss
}

// TestLBFGSTorchCheckpoint loads a checkpoint written from torch's LBFGS
// state_dict (testdata/torch-lbfgs/make_lbfgs_checkpoint.py) into an
// optimizer of two parameters and takes torch's next step.
func TestLBFGSTorchCheckpoint(t *testing.T) {
	t.Run("float32", func(t *testing.T) { torchCheckpointStep[float32](t, "float32", 1e-5) })
	t.Run("float64", func(t *testing.T) { torchCheckpointStep[float64](t, "float64", 1e-10) })
}

func torchCheckpointStep[T float32 | float64](t *testing.T, name string, tol float64) {
	var rec struct {
		Split       int       `json:"split"`
		Before      []float64 `json:"params_before"`
		After       []float64 `json:"params_after"`
		Loss        float64   `json:"loss"`
		Evaluations int       `json:"evaluations"`
		FuncEvals   int64     `json:"func_evals"`
		NIter       int64     `json:"n_iter"`
	}
	if err := json.Unmarshal(readGzip(t, "testdata/torch-lbfgs/checkpoint_"+name+".json.gz"), &rec); err != nil {
		t.Fatal(err)
	}
	x := make([]T, len(rec.Before))
	for i, v := range rec.Before {
		x[i] = T(v)
	}
	a, b := x[:rec.Split:rec.Split], x[rec.Split:]
	cfg := DefaultLBFGS()
	cfg.HistorySize = 4
	opt, err := NewLBFGS(cfg, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := opt.LoadFile(filepath.Join("testdata/torch-lbfgs", "checkpoint_"+name+".safetensors")); err != nil {
		t.Fatal(err)
	}
	want := LBFGS{LR: 0.9, MaxIter: 6, MaxEval: 0, ToleranceGrad: 1e-7, ToleranceChange: 1e-9, HistorySize: 4, LineSearch: StrongWolfe}
	if got := opt.Config(); got != want {
		t.Errorf("config %+v, want torch's %+v", got, want)
	}
	calls := 0
	loss, err := opt.Step(func() (float64, error) {
		calls++
		return float64(rosenbrockSplit([][]T{a, b}, [][]T{opt.Grad(0), opt.Grad(1)})), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != rec.Evaluations || loss != rec.Loss && math.Abs(loss-rec.Loss) > tol*math.Max(1, math.Abs(rec.Loss)) {
		t.Errorf("step: loss %v in %d calls, torch %v in %d", loss, calls, rec.Loss, rec.Evaluations)
	}
	worst := 0.0
	for i, v := range rec.After {
		worst = math.Max(worst, math.Abs(float64(x[i])-v))
	}
	if !(worst <= tol) {
		t.Errorf("params differ from torch's by %g, want <= %g", worst, tol)
	}
	if opt.Evaluations() != rec.FuncEvals || opt.Iterations() != rec.NIter {
		t.Errorf("func_evals %d, n_iter %d; torch %d, %d", opt.Evaluations(), opt.Iterations(), rec.FuncEvals, rec.NIter)
	}
	t.Logf("params within %g of torch's, %d calls", worst, calls)
}

// lbfgsRun makes an optimizer of two parameters on Rosenbrock from a
// fixed start and returns it with its step function.
func lbfgsRun[T float32 | float64](t *testing.T, cfg LBFGS) (*LBFGSOptimizer[T], []T, func() float64) {
	x := make([]T, 9)
	for i := range x {
		x[i] = T(-1.5 + 0.37*float64(i%5))
	}
	a, b := x[:4:4], x[4:]
	opt, err := NewLBFGS(cfg, a, b)
	if err != nil {
		t.Fatal(err)
	}
	step := func() float64 {
		loss, err := opt.Step(func() (float64, error) {
			return float64(rosenbrockSplit([][]T{a, b}, [][]T{opt.Grad(0), opt.Grad(1)})), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return loss
	}
	return opt, x, step
}

// TestLBFGSCheckpointRoundTrip saves after a few steps, loads into a new
// optimizer and checks that both continue with the same bits, and that
// the loaded one saves the same bytes.
func TestLBFGSCheckpointRoundTrip(t *testing.T) {
	for _, ls := range []LineSearch{NoLineSearch, StrongWolfe} {
		t.Run(string(ls)+"float32", func(t *testing.T) { roundTripLBFGS[float32](t, ls) })
		t.Run(string(ls)+"float64", func(t *testing.T) { roundTripLBFGS[float64](t, ls) })
	}
}

func roundTripLBFGS[T float32 | float64](t *testing.T, ls LineSearch) {
	cfg := DefaultLBFGS()
	cfg.HistorySize, cfg.MaxIter, cfg.LineSearch = 3, 5, ls
	opt, x, step := lbfgsRun[T](t, cfg)
	var empty bytes.Buffer
	if err := opt.Save(&empty); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		step()
	}
	var buf bytes.Buffer
	if err := opt.Save(&buf); err != nil {
		t.Fatal(err)
	}
	other := DefaultLBFGS()
	other.HistorySize = 3
	opt2, x2, step2 := lbfgsRun[T](t, other)
	copy(x2, x)
	if err := opt2.Load(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if opt2.Config() != opt.Config() {
		t.Errorf("loaded config %+v, saved %+v", opt2.Config(), opt.Config())
	}
	var again bytes.Buffer
	if err := opt2.Save(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Errorf("the loaded optimizer saves other bytes")
	}
	for s := range 2 {
		l1, l2 := step(), step2()
		if l1 != l2 || !equalBits(x, x2) {
			t.Fatalf("step %d after loading: loss %v, want %v; params differ", s, l2, l1)
		}
	}
	// A fresh optimizer's empty state loads, and resets the state.
	if err := opt2.Load(bytes.NewReader(empty.Bytes())); err != nil {
		t.Fatal(err)
	}
	if opt2.Iterations() != 0 || opt2.Evaluations() != 0 {
		t.Errorf("after loading an empty state: n_iter %d, func_evals %d", opt2.Iterations(), opt2.Evaluations())
	}
}

func equalBits[T float32 | float64](a, b []T) bool {
	for i := range a {
		if math.Float64bits(float64(a[i])) != math.Float64bits(float64(b[i])) {
			return false
		}
	}
	return len(a) == len(b)
}

// TestLBFGSLoadErrors checks that damaged, foreign and mismatched files
// are refused with a *CheckpointError and change nothing.
func TestLBFGSLoadErrors(t *testing.T) {
	cfg := DefaultLBFGS()
	cfg.HistorySize = 3
	opt, _, step := lbfgsRun[float64](t, cfg)
	step()
	var buf bytes.Buffer
	if err := opt.Save(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flipped := bytes.Clone(good)
	flipped[len(flipped)-3] ^= 1
	cases := map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)-5],
		"flipped":   flipped,
		"longer":    append(bytes.Clone(good), 0),
	}
	for name, file := range cases {
		t.Run(name, func(t *testing.T) {
			target, _, _ := lbfgsRun[float64](t, cfg)
			before := target.nIter
			err := target.Load(bytes.NewReader(file))
			var ce *CheckpointError
			if !errors.As(err, &ce) {
				t.Fatalf("Load: %v, want a *CheckpointError", err)
			}
			if name == "flipped" && !errors.Is(err, ErrChecksum) {
				t.Errorf("Load: %v, want ErrChecksum", err)
			}
			if target.nIter != before {
				t.Errorf("a failed Load changed the state")
			}
		})
	}
	t.Run("history size", func(t *testing.T) {
		c := cfg
		c.HistorySize = 5
		target, _, _ := lbfgsRun[float64](t, c)
		if err := target.Load(bytes.NewReader(good)); err == nil {
			t.Fatal("Load with another history_size succeeded")
		}
	})
	t.Run("element type", func(t *testing.T) {
		target, _, _ := lbfgsRun[float32](t, cfg)
		if err := target.Load(bytes.NewReader(good)); err == nil {
			t.Fatal("Load of a float64 file into float32 succeeded")
		}
	})
	t.Run("length", func(t *testing.T) {
		target, err := NewLBFGS(cfg, make([]float64, 4), make([]float64, 6))
		if err != nil {
			t.Fatal(err)
		}
		if err := target.Load(bytes.NewReader(good)); err == nil {
			t.Fatal("Load into 10 elements of a file of 9 succeeded")
		}
	})
}

// FuzzLBFGSLoad feeds Load arbitrary bytes: it returns an error or loads,
// never panics, and a failed Load changes nothing.
func FuzzLBFGSLoad(f *testing.F) {
	cfg := DefaultLBFGS()
	cfg.HistorySize = 4
	for _, name := range []string{"float32", "float64"} {
		if raw, err := os.ReadFile("testdata/torch-lbfgs/checkpoint_" + name + ".safetensors"); err == nil {
			f.Add(raw)
		}
	}
	a, b := make([]float64, 5), make([]float64, 7)
	opt, err := NewLBFGS(cfg, a, b)
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := opt.Save(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, raw []byte) {
		target, err := NewLBFGS(cfg, make([]float64, 5), make([]float64, 7))
		if err != nil {
			t.Fatal(err)
		}
		if err := target.Load(bytes.NewReader(raw)); err != nil {
			if target.nIter != 0 || target.funcEvals != 0 || target.hasPrevLoss {
				t.Fatalf("a failed Load changed the state: %v", err)
			}
			return
		}
		var out bytes.Buffer
		if err := target.Save(&out); err != nil {
			t.Fatalf("Save after Load: %v", err)
		}
	})
}

// TestLBFGSLoadMutations loads every one-byte change of a checkpoint's
// header and a sample of its data: an error or a load, never a panic.
func TestLBFGSLoadMutations(t *testing.T) {
	raw, err := os.ReadFile("testdata/torch-lbfgs/checkpoint_float64.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultLBFGS()
	cfg.HistorySize = 4
	target, err := NewLBFGS(cfg, make([]float64, 5), make([]float64, 7))
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Clone(raw)
	loaded := 0
	for i := 0; i < len(raw); i += 1 + i/600*13 {
		for _, x := range []byte{0x01, 0x10, 0x80, 0xff} {
			buf[i] ^= x
			if target.Load(bytes.NewReader(buf)) == nil {
				loaded++
			}
			buf[i] ^= x
		}
	}
	t.Logf("%d of the changed files loaded (a change in the data of a file without checksum)", loaded)
}
