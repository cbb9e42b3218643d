package optim

import (
	"path/filepath"
	"strings"
	"testing"
)

func init() { matrixReplayers["Adafactor"] = replayAdafactorGolden }

// adafactorFromHyper is Adafactor with torch's defaults and the file's
// keyword arguments.
func adafactorFromHyper(t *testing.T, hyper map[string]any) Adafactor {
	t.Helper()
	r := DefaultAdafactor()
	for k, v := range hyper {
		switch k {
		case "lr":
			r.LR = v.(float64)
		case "beta2_decay":
			r.Beta2Decay = v.(float64)
		case "eps":
			e := v.([]any)
			r.MachineEps1 = e[0] == nil
			if e[0] != nil {
				r.Eps1 = e[0].(float64)
			}
			r.Eps2 = e[1].(float64)
		case "d":
			r.D = v.(float64)
		case "weight_decay":
			r.WeightDecay = v.(float64)
		case "maximize":
			r.Maximize = v.(bool)
		default:
			t.Fatalf("Adafactor has no keyword %q", k)
		}
	}
	return r
}

func replayAdafactorGolden(t *testing.T, raw []byte) {
	run := decodeMatrixGolden(t, raw)
	r := adafactorFromHyper(t, run.Hyper)
	tol := matrixTolerance(run.Dtype)
	if run.Dtype == "float32" {
		replayMatrix[float32](t, run, r, tol)
	} else {
		replayMatrix[float64](t, run, r, tol)
	}
}

// TestAdafactorBatchedTorch replays testdata/adafactor-batched: 3-D and
// 4-D parameters, whose factors torch keeps per matrix of the stack.
func TestAdafactorBatchedTorch(t *testing.T) {
	files, _ := filepath.Glob("testdata/adafactor-batched/*.json.gz")
	if len(files) != 4 {
		t.Fatalf("testdata/adafactor-batched holds %d files, want 4", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json.gz"), func(t *testing.T) { replayAdafactorGolden(t, readGzip(t, f)) })
	}
}
