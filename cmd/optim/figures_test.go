package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"go/build"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// smallConfig runs everything with small budgets: the figures' layout and
// files, not their content, are under test.
var smallConfig = config{problem: "all", kappa: 100, angle: 30, budget: 3000, tol: 1e-6,
	throughput: true, n: 4096, perRule: 2 * time.Millisecond, train: 2}

// skipDrawingInShort skips a test that draws every figure when -short is
// set. Drawing is one goroutine running the same Go on every architecture,
// and rasterizing is 15 times slower under the race detector and 8 times
// under qemu (33 s and 18 s of make test's race and arm64 steps), where it
// could find nothing that the full native steps, which draw them, miss.
func skipDrawingInShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: drawing is the same single-threaded Go everywhere; the full native steps draw every figure")
	}
}

// TestFiguresDecode renders every figure into a temporary folder and
// checks that each PNG decodes to the figure's size in pixels and each
// SVG parses as XML with the same size (at 96 dpi: 0.75 pt per pixel).
func TestFiguresDecode(t *testing.T) {
	skipDrawingInShort(t)
	dir := t.TempDir()
	tc := trainConfig{epochs: smallConfig.train, batch: 50, hidden: 8, lr: 0.02}
	cmps, err := compareTraining(tc)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printComparisons(&out, cmps, tc.epochs)
	for _, row := range []string{"\nmomentum ", "\noptimizer ", "\nschedule ", "\nmatrices "} {
		if !strings.Contains(out.String(), row) {
			t.Errorf("the comparison table lacks the row %q:\n%s", row, out.String())
		}
	}
	figs, err := drawFigures(&out, dir, smallConfig, cmps)
	if err != nil {
		t.Fatal(err)
	}
	if want := 12; len(figs) != want {
		t.Errorf("%d figures, want %d", len(figs), want)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2*len(figs) {
		t.Errorf("%d files for %d figures, want two each", len(entries), len(figs))
	}
	for _, f := range figs {
		if !strings.Contains(out.String(), f.name+".{png,svg}") {
			t.Errorf("output does not list %s", f.name)
		}
		checkPNG(t, filepath.Join(dir, f.name+".png"), f.width, f.height)
		checkSVG(t, filepath.Join(dir, f.name+".svg"), f.width, f.height)
	}
}

func checkPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	file, err := os.Open(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer file.Close()
	img, err := png.Decode(file)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("%s: %dx%d pixels, want %dx%d", path, b.Dx(), b.Dy(), w, h)
	}
}

func checkSVG(t *testing.T, path string, w, h int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	var root *xml.StartElement
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return
		}
		if se, ok := tok.(xml.StartElement); ok && root == nil {
			root = &se
		}
	}
	if root == nil || root.Name.Local != "svg" {
		t.Errorf("%s: the root element is not svg", path)
		return
	}
	attr := map[string]string{}
	for _, a := range root.Attr {
		attr[a.Name.Local] = a.Value
	}
	if ww, hh := fmt.Sprintf("%gpt", 0.75*float64(w)), fmt.Sprintf("%gpt", 0.75*float64(h)); attr["width"] != ww || attr["height"] != hh {
		t.Errorf("%s: size %s x %s, want %s x %s", path, attr["width"], attr["height"], ww, hh)
	}
}

// TestFiguresDeterministic draws the figures whose content depends on no
// timing twice and wants the same bytes: fixed seeds, and contour lines
// that do not depend on map order.
func TestFiguresDeterministic(t *testing.T) {
	skipDrawingInShort(t)
	for _, make := range []func() (*figure, error){ravineFigure, schedulesFigure, roundingFigure} {
		var files [2][]string
		for i := range 2 {
			f, err := make()
			if err != nil {
				t.Fatal(err)
			}
			if files[i], err = f.write(t.TempDir()); err != nil {
				t.Fatal(err)
			}
		}
		for k := range files[0] {
			a, errA := os.ReadFile(files[0][k])
			b, errB := os.ReadFile(files[1][k])
			if errA != nil || errB != nil {
				t.Fatal(errA, errB)
			}
			if !bytes.Equal(a, b) {
				t.Errorf("%s differs between two runs", filepath.Base(files[0][k]))
			}
		}
	}
}

// plotModule is the plotting library, which only this command may import.
const plotModule = "gonum.org/v1/plot"

// TestPlotOnlyInDemo fails if a package of the library imports the
// plotting library, in its code or its tests, or if the library's go.mod
// requires it: a program that imports optim must neither compile it nor
// inherit it in its module graph. It reads the imports with go/build, and,
// when the go command is at hand, also asks go list for the full
// dependency graph of every library package and go mod edit for the
// library's requirements.
func TestPlotOnlyInDemo(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		name := d.Name()
		switch {
		case rel == "cmd" || rel == "asm" || name == "testdata" || (strings.HasPrefix(name, ".") && rel != "."):
			// cmd/optim, the demo, is a module of its own that may
			// use it; so is asm/; testdata and hidden folders hold
			// no packages.
			return filepath.SkipDir
		}
		ctx := build.Default
		for _, arch := range []string{"amd64", "arm64"} {
			ctx.GOARCH = arch
			pkg, err := ctx.ImportDir(path, 0)
			if err != nil {
				continue // no Go files for this architecture
			}
			checked++
			for _, imps := range [][]string{pkg.Imports, pkg.TestImports, pkg.XTestImports} {
				for _, imp := range imps {
					if imp == plotModule || strings.HasPrefix(imp, plotModule+"/") {
						t.Errorf("%s (GOARCH=%s) imports %s: only cmd/optim may", rel, arch, imp)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 5 {
		t.Fatalf("checked only %d packages: is %s the module root?", checked, root)
	}
	if testing.Short() {
		return
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Log("no go command: the go list check is skipped")
		return
	}
	edit := exec.Command(goCmd, "mod", "edit", "-json")
	edit.Dir = root
	modJSON, err := edit.Output()
	if err != nil {
		t.Skipf("go mod edit: %v", err)
	}
	var goMod struct{ Require []struct{ Path string } }
	if err := json.Unmarshal(modJSON, &goMod); err != nil {
		t.Fatalf("go mod edit -json: %v", err)
	}
	for _, r := range goMod.Require {
		if r.Path == plotModule {
			t.Errorf("the library's go.mod requires %s", r.Path)
		}
	}
	pkgs := exec.Command(goCmd, "list", "./...")
	pkgs.Dir = root
	all, err := pkgs.Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	lib := strings.Fields(string(all))
	deps := exec.Command(goCmd, append([]string{"list", "-deps", "-test", "-f", "{{.ImportPath}}"}, lib...)...)
	deps.Dir = root
	out, err := deps.Output()
	if err != nil {
		t.Skipf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == plotModule || strings.HasPrefix(p, plotModule+"/") {
			t.Errorf("a library package depends on %s", p)
		}
	}
}
