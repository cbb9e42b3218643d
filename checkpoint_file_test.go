package optim

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// failFS is the real file system with one stage made to fail, as a crash
// there would leave things.
type failFS struct {
	stage     string // "create", "write", "sync", "close", "rename", "syncdir"
	writeFrom int    // for "write": the writes succeed up to this many bytes
	created   []string
}

var errInjected = errors.New("injected failure")

type failFile struct {
	*os.File
	fs      *failFS
	written int
}

func (f *failFile) Write(b []byte) (int, error) {
	if f.fs.stage == "write" && f.written+len(b) > f.fs.writeFrom {
		n := f.fs.writeFrom - f.written
		f.File.Write(b[:n])
		f.written += n
		return n, errInjected
	}
	f.written += len(b)
	return f.File.Write(b)
}

func (f *failFile) Sync() error {
	if f.fs.stage == "sync" {
		return errInjected
	}
	return f.File.Sync()
}

func (f *failFile) Close() error {
	err := f.File.Close()
	if f.fs.stage == "close" {
		return errInjected
	}
	return err
}

func (fs *failFS) CreateTemp(dir, pattern string) (tempFile, error) {
	if fs.stage == "create" {
		return nil, errInjected
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	fs.created = append(fs.created, f.Name())
	return &failFile{File: f, fs: fs}, nil
}

func (fs *failFS) Rename(a, b string) error {
	if fs.stage == "rename" {
		return errInjected
	}
	return os.Rename(a, b)
}

func (fs *failFS) Remove(name string) error { return os.Remove(name) }

func (fs *failFS) SyncDir(dir string) error {
	if fs.stage == "syncdir" {
		return errInjected
	}
	return osFS{}.SyncDir(dir)
}

func (fs *failFS) Open(name string) (io.ReadCloser, error) {
	return os.Open(name)
}

// TestSaveFileAtomic fails SaveFile at each stage: before the rename the
// old checkpoint is intact and the temporary file gone; after it (the
// directory sync) the new one is in place. No stage leaves a torn file.
func TestSaveFileAtomic(t *testing.T) {
	_, oldData := smallCheckpoint(t)
	newer, _ := smallCheckpoint(t)
	if err := newer.Step([]float32{1, 1, 1}, []float32{1, 1}, []float32{}, []float32{1}, []float32{1, 1}); err != nil {
		t.Fatal(err)
	}
	var newBuf bytes.Buffer
	if err := newer.Save(&newBuf); err != nil {
		t.Fatal(err)
	}
	newData := newBuf.Bytes()

	type stage struct {
		name string
		from int
	}
	stages := []stage{{"create", 0}, {"sync", 0}, {"close", 0}, {"rename", 0}, {"syncdir", 0}}
	for _, n := range []int{0, 1, 8, 100, len(newData) - 1} {
		stages = append(stages, stage{"write", n})
	}
	defer func() { fsys = osFS{} }()
	for _, s := range stages {
		dir := t.TempDir()
		path := filepath.Join(dir, "opt.safetensors")
		if err := os.WriteFile(path, oldData, 0o600); err != nil {
			t.Fatal(err)
		}
		ffs := &failFS{stage: s.name, writeFrom: s.from}
		fsys = ffs
		err := newer.SaveFile(path)
		fsys = osFS{}
		var ce *CheckpointError
		if !errors.As(err, &ce) || !errors.Is(err, errInjected) {
			t.Fatalf("stage %s (%d): SaveFile returned %v, want a *CheckpointError wrapping the failure", s.name, s.from, err)
		}
		got, rerr := os.ReadFile(path)
		if rerr != nil {
			t.Fatal(rerr)
		}
		want := oldData
		if s.name == "syncdir" {
			want = newData
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("stage %s (%d): the file holds neither the old nor the expected checkpoint (%d bytes)", s.name, s.from, len(got))
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Fatalf("stage %s (%d): %d files left in the directory, want 1", s.name, s.from, len(entries))
		}
		// The file on disk loads.
		if err := freshSmall(t).LoadFile(path); err != nil {
			t.Fatalf("stage %s (%d): the file left does not load: %v", s.name, s.from, err)
		}
	}

	// Without failures, SaveFile replaces the file and LoadFile reads it.
	dir := t.TempDir()
	path := filepath.Join(dir, "opt.safetensors")
	if err := os.WriteFile(path, oldData, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := newer.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, newData) {
		t.Fatal("SaveFile wrote other bytes than Save")
	}
	if err := freshSmall(t).LoadFile(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("LoadFile of a missing file: no error")
	}
}

// TestLoadFileHeaderBeyondFile: a header length beyond the file is
// reported as such by LoadFile.
func TestLoadFileHeaderBeyondFile(t *testing.T) {
	_, data := smallCheckpoint(t)
	bad := bytes.Clone(data)
	bad[0], bad[1] = 0xff, 0x0f // 4095 + ...: more than the file, less than the limit
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	err := freshSmall(t).LoadFile(path)
	if err == nil || !strings.Contains(err.Error(), "exceeds the limit of 1876 bytes") {
		t.Fatalf("LoadFile: %v, want the header length checked against the file size", err)
	}
}
