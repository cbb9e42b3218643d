package optim

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// matrixReplayers replays a golden file of testdata/torch-matrix by its
// torch class (the file's "optimizer" field): each class's test file
// registers its replayer in an init function. raw is the whole file.
var matrixReplayers = map[string]func(t *testing.T, raw []byte){}

// minMatrixGoldenFiles is how many public files testdata/torch-matrix
// holds at least; held-out files may be added beside them.
const minMatrixGoldenFiles = 15

// TestGoldenTorchMatrix replays every file of testdata/torch-matrix (Muon,
// Adafactor, LBFGS and SparseAdam, described by its README), whatever its
// name, each as a subtest named after the file.
func TestGoldenTorchMatrix(t *testing.T) {
	files, _ := filepath.Glob("testdata/torch-matrix/*.json.gz")
	if len(files) < minMatrixGoldenFiles {
		t.Errorf("testdata/torch-matrix holds %d golden files, want at least %d", len(files), minMatrixGoldenFiles)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".json.gz"), func(t *testing.T) {
			raw := readGzip(t, path)
			var head struct {
				Optimizer string `json:"optimizer"`
			}
			if err := json.Unmarshal(raw, &head); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			replay, ok := matrixReplayers[head.Optimizer]
			if !ok {
				t.Fatalf("%s: no replayer for optimizer %q", path, head.Optimizer)
			}
			replay(t, raw)
		})
	}
}
