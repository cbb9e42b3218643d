package kernels

import (
	"bufio"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/arch/arm64/arm64asm"
)

var (
	wordRE = regexp.MustCompile(`^\s*WORD\s+\$(\S+)\s*(?://\s*(.*?))?\s*$`)
	// fusedRE matches the Go mnemonics of fused multiply-adds, which no
	// kernel may use: the reference rounds every product.
	fusedRE = regexp.MustCompile(`^\s*(VFMLA|VFMLS|FMADD[SD]|FMSUB[SD]|FNMADD[SD]|FNMSUB[SD])\s`)
)

// TestARM64Words decodes every WORD directive in every *_arm64.s file of
// the module and checks that it is the instruction its comment names, in
// the GNU syntax of golang.org/x/arch's disassembler. The Go assembler
// cannot check these encodings, so this is what does. It parses text only
// and so runs on every architecture.
func TestARM64Words(t *testing.T) {
	var files []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != ".." && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, "_arm64.s") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no *_arm64.s file found")
	}
	words := 0
	for _, path := range files {
		words += checkWords(t, path)
	}
	t.Logf("%d WORD directives in %d files decoded and matched", words, len(files))
}

func checkWords(t *testing.T, path string) int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	words := 0
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		// Package linalg's GEMM kernels fuse on purpose (they are checked
		// bit for bit against math.FMA, not against the optimizer
		// reference), so the ban covers every other file.
		if m := fusedRE.FindStringSubmatch(text); m != nil && filepath.Dir(path) != filepath.Join("..", "linalg") {
			t.Errorf("%s:%d: fused multiply-add %s", path, line, m[1])
		}
		m := wordRE.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		words++
		w, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(m[1]), "0x"), 16, 32)
		if err != nil || !strings.HasPrefix(strings.ToLower(m[1]), "0x") {
			t.Errorf("%s:%d: WORD %s is not a 32-bit hex constant", path, line, m[1])
			continue
		}
		if m[2] == "" {
			t.Errorf("%s:%d: WORD %s has no comment naming its instruction", path, line, m[1])
			continue
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(w))
		inst, err := arm64asm.Decode(b[:])
		if err != nil {
			t.Errorf("%s:%d: WORD %s does not decode: %v", path, line, m[1], err)
			continue
		}
		switch inst.Op {
		case arm64asm.FMLA, arm64asm.FMLS, arm64asm.FMADD, arm64asm.FMSUB, arm64asm.FNMADD, arm64asm.FNMSUB:
			t.Errorf("%s:%d: WORD %s is a fused multiply-add", path, line, m[1])
		}
		if got, want := normalize(arm64asm.GNUSyntax(inst)), normalize(m[2]); got != want {
			t.Errorf("%s:%d: WORD %s decodes to %q, comment says %q", path, line, m[1], got, want)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return words
}

// normalize lowercases and collapses white space.
func normalize(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }
