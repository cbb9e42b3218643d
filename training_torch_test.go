package optim

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// torchTraining is the description generate.py writes beside each file of
// testdata/torch-training: every tensor's values as Python's float.hex.
type torchTraining struct {
	Dtype     string        `json:"dtype"`
	Model     []torchValues `json:"model"`
	Optimizer *struct {
		ParamGroups []struct {
			LR          float64   `json:"lr"`
			Betas       []float64 `json:"betas"`
			WeightDecay float64   `json:"weight_decay"`
		} `json:"param_groups"`
		State []torchValues `json:"state"`
	} `json:"optimizer"`
	Averaged *struct {
		NAveraged int64         `json:"n_averaged"`
		Tensors   []torchValues `json:"tensors"`
	} `json:"averaged"`
}

type torchValues struct {
	Name   string   `json:"name"`
	Param  int      `json:"param"`
	Key    string   `json:"key"`
	Shape  []int    `json:"shape"`
	Values []string `json:"values"`
}

// TestTrainingTorchFiles loads every file of testdata/torch-training,
// written from torch models' state_dicts by safetensors' save_file (see
// its README), into a Training by name, the optimizer's state and the
// averaged model too where the file has them, and compares every value bit
// for bit.
func TestTrainingTorchFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/torch-training/*.safetensors")
	if err != nil || len(files) == 0 {
		t.Fatalf("no files (%v)", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			var want torchTraining
			js, err := os.ReadFile(strings.TrimSuffix(path, ".safetensors") + ".json")
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(js, &want); err != nil {
				t.Fatal(err)
			}
			switch want.Dtype {
			case "float32":
				testTorchTraining[float32](t, path, &want)
			case "float64":
				testTorchTraining[float64](t, path, &want)
			case "bfloat16":
				testTorchLowTraining(t, path, &want)
			default:
				t.Fatalf("dtype %q", want.Dtype)
			}
		})
	}
}

func testTorchTraining[T testFloat](t *testing.T, path string, want *torchTraining) {
	tr := Training[T]{}
	var params [][]T
	for _, m := range want.Model {
		data := make([]T, len(m.Values))
		for i := range data {
			data[i] = T(math.NaN()) // every value must come from the file
		}
		tr.Model = append(tr.Model, Tensor[T]{Name: m.Name, Data: data, Shape: m.Shape})
		params = append(params, data)
	}
	if want.Optimizer != nil {
		var err error
		if tr.Optimizer, err = New(DefaultAdamW(), params...); err != nil {
			t.Fatal(err)
		}
	}
	if want.Averaged != nil {
		var names []string
		for _, m := range want.Averaged.Tensors {
			names = append(names, m.Name)
		}
		var err error
		if tr.Averaged, err = NewAveragedModel(SWA(), Model[T]{Params: params, Names: names}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	got := loadedTraining[T]{}
	for _, m := range tr.Model {
		got.model = append(got.model, m.Data)
	}
	if a := tr.Averaged; a != nil {
		got.nAveraged, got.averaged = a.NAveraged(), a.Params()
	}
	if o := tr.Optimizer; o != nil {
		got.rule, got.state = o.groups[0].rule, o.State
	}
	checkTorchTraining(t, want, got)
}

// testTorchLowTraining is testTorchTraining for a bfloat16 model, loaded
// into a LowTraining.
func testTorchLowTraining(t *testing.T, path string, want *torchTraining) {
	tr := LowTraining[BFloat16]{}
	var params [][]BFloat16
	for _, m := range want.Model {
		data := make([]BFloat16, len(m.Values))
		for i := range data {
			data[i] = BFloat16NaN // every value must come from the file
		}
		tr.Model = append(tr.Model, Tensor[BFloat16]{Name: m.Name, Data: data, Shape: m.Shape})
		params = append(params, data)
	}
	var err error
	if want.Optimizer != nil {
		if tr.Optimizer, err = NewLow(DefaultAdamW(), LowOptions{}, params...); err != nil {
			t.Fatal(err)
		}
	}
	if want.Averaged != nil {
		var names []string
		for _, m := range want.Averaged.Tensors {
			names = append(names, m.Name)
		}
		if tr.Averaged, err = NewAveragedModel(SWA(), Model[BFloat16]{Params: params, Names: names}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	// Widening is exact: the float32 values have the bfloat16 bits.
	widen := func(s []BFloat16) []float32 {
		out := make([]float32, len(s))
		for i, h := range s {
			out[i] = h.Float32()
		}
		return out
	}
	got := loadedTraining[float32]{}
	for _, m := range tr.Model {
		got.model = append(got.model, widen(m.Data))
	}
	if a := tr.Averaged; a != nil {
		got.nAveraged = a.NAveraged()
		for _, s := range a.Params() {
			got.averaged = append(got.averaged, widen(s))
		}
	}
	if o := tr.Optimizer; o != nil {
		got.rule, got.state = o.groups[0].rule, o.State
	}
	checkTorchTraining(t, want, got)
}

// loadedTraining is what a Training or a LowTraining loaded from a torch
// file: the model's and the averaged model's values (as T), the
// optimizer's first rule and its state.
type loadedTraining[T testFloat] struct {
	model, averaged [][]T
	nAveraged       int64
	rule            Rule
	state           func(i int) (State[T], error)
}

// checkTorchTraining compares what was loaded with want, bit for bit.
func checkTorchTraining[T testFloat](t *testing.T, want *torchTraining, got loadedTraining[T]) {
	t.Helper()
	for i, m := range want.Model {
		sameBits(t, m.Name, got.model[i], m.Values)
	}
	if want.Averaged != nil {
		if got.nAveraged != want.Averaged.NAveraged {
			t.Errorf("n_averaged %d, want %d", got.nAveraged, want.Averaged.NAveraged)
		}
		for i, m := range want.Averaged.Tensors {
			sameBits(t, "averaged.module."+m.Name, got.averaged[i], m.Values)
		}
	}
	if want.Optimizer == nil {
		return
	}
	g := want.Optimizer.ParamGroups[0]
	rule := got.rule.(Adam)
	if !rule.Decoupled || rule.LR != g.LR || rule.Beta1 != g.Betas[0] || rule.Beta2 != g.Betas[1] || rule.WeightDecay != g.WeightDecay {
		t.Errorf("rule %#v, want torch's param_groups %+v", rule, g)
	}
	for _, s := range want.Optimizer.State {
		st, err := got.state(s.Param)
		if err != nil {
			t.Fatal(err)
		}
		name := "optimizer.state." + strconv.Itoa(s.Param) + "." + s.Key
		if s.Key == "step" {
			if got, err := strconv.ParseFloat(s.Values[0], 64); err != nil || float64(st.Step) != got {
				t.Errorf("%s: %d, want %s", name, st.Step, s.Values[0])
			}
			continue
		}
		sameBits(t, name, *st.field(s.Key), s.Values)
	}
}

// sameBits checks that got holds want's values (float.hex), bit for bit.
func sameBits[T testFloat](t *testing.T, name string, got []T, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i, w := range want {
		x, err := strconv.ParseFloat(w, 64)
		if err != nil {
			t.Fatal(err)
		}
		if bits(got[i]) != bits(T(x)) {
			t.Fatalf("%s[%d] = %v, want %v (%s)", name, i, got[i], T(x), w)
		}
	}
}
