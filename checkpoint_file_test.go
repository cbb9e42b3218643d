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

// TestLoadFileOfSizeZero: a file whose size reads as 0 although it has
// content (Linux's /proc files) is read to its end, not refused with a limit
// of 0 bytes; a really empty file is a truncated checkpoint.
func TestLoadFileOfSizeZero(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.safetensors")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	paths := []string{empty}
	if fi, err := os.Stat("/proc/self/status"); err == nil && fi.Size() == 0 {
		paths = append(paths, "/proc/self/status")
	}
	for _, path := range paths {
		err := freshSmall(t).LoadFile(path)
		var ce *CheckpointError
		if !errors.As(err, &ce) || strings.Contains(err.Error(), "limit of 0 bytes") {
			t.Errorf("LoadFile(%s) = %v, want a *CheckpointError about the content, not a limit of 0 bytes", path, err)
		}
	}
}

// TestSaveFileFollowsSymlinks: SaveFile writes the file the user meant. A
// link latest -> ckpt.safetensors (relative or absolute, or a chain of
// links) keeps being a link, and its target holds the new checkpoint; a
// dangling link gets its target created.
func TestSaveFileFollowsSymlinks(t *testing.T) {
	opt, oldData := smallCheckpoint(t)
	var want bytes.Buffer
	if err := opt.Save(&want); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		links    func(dir string) []string // link, target pairs, made in order
		exists   bool                      // the final target exists before SaveFile
		savePath string
	}{
		{"relative link", func(string) []string { return []string{"latest", "ckpt.safetensors"} }, true, "latest"},
		{"absolute link", func(dir string) []string {
			return []string{"latest", filepath.Join(dir, "ckpt.safetensors")}
		}, true, "latest"},
		{"chain of links", func(string) []string {
			return []string{"b", "ckpt.safetensors", "latest", "b"}
		}, true, "latest"},
		{"link into a subdirectory", func(string) []string { return []string{"latest", "sub/ckpt.safetensors"} }, true, "latest"},
		{"dangling link", func(string) []string { return []string{"latest", "ckpt.safetensors"} }, false, "latest"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
				t.Fatal(err)
			}
			pairs := c.links(dir)
			final := pairs[1]
			if !filepath.IsAbs(final) {
				final = filepath.Join(dir, final)
			}
			if c.exists {
				if err := os.WriteFile(final, oldData, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < len(pairs); i += 2 {
				if err := os.Symlink(pairs[i+1], filepath.Join(dir, pairs[i])); err != nil {
					t.Fatal(err)
				}
			}
			if err := opt.SaveFile(filepath.Join(dir, c.savePath)); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(pairs); i += 2 {
				fi, err := os.Lstat(filepath.Join(dir, pairs[i]))
				if err != nil || fi.Mode()&os.ModeSymlink == 0 {
					t.Errorf("%s is no longer a symbolic link (%v, %v)", pairs[i], fi, err)
				}
			}
			got, err := os.ReadFile(final)
			if err != nil || !bytes.Equal(got, want.Bytes()) {
				t.Errorf("the link's target does not hold the new checkpoint (%v)", err)
			}
			leftovers, _ := filepath.Glob(filepath.Join(dir, "*", ".*tmp-*"))
			top, _ := filepath.Glob(filepath.Join(dir, ".*tmp-*"))
			if len(leftovers)+len(top) != 0 {
				t.Errorf("temporary files left: %v %v", leftovers, top)
			}
		})
	}
}

// TestSaveFileRefusesNonRegularFiles: a path (or a link's target) that is
// a directory, a device or a pipe is refused with a *CheckpointError, and
// left as it was; so is a cycle of links.
func TestSaveFileRefusesNonRegularFiles(t *testing.T) {
	opt, _ := smallCheckpoint(t)
	dir := t.TempDir()
	pipe := filepath.Join(dir, "pipe")
	if err := mkfifo(pipe); err != nil {
		t.Logf("no named pipe here (%v); the pipe case is skipped", err)
		pipe = ""
	}
	if err := os.Symlink("loop2", filepath.Join(dir, "loop1")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop1", filepath.Join(dir, "loop2")); err != nil {
		t.Fatal(err)
	}
	// The device is a private copy of /dev/null's node, never /dev/null
	// itself: were SaveFile to regress, it would replace the copy, not the
	// machine's /dev/null. Making a node needs root; elsewhere the device
	// cases are skipped.
	device := filepath.Join(dir, "null")
	if err := mknodNull(device); err != nil {
		t.Logf("cannot make a device node here (%v); the device cases are skipped", err)
		device = ""
	} else if err := os.Symlink(device, filepath.Join(dir, "null-link")); err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{
		"directory":       dir,
		"device":          device,
		"link to device":  filepath.Join(dir, "null-link"),
		"cycle of links":  filepath.Join(dir, "loop1"),
		"named pipe":      pipe,
		"link to a dir":   "",
		"directory slash": dir + "/",
	}
	if err := os.Symlink(dir, filepath.Join(dir, "dir-link")); err == nil {
		paths["link to a dir"] = filepath.Join(dir, "dir-link")
	}
	for name, path := range paths {
		if path == "" || (device == "" && name == "link to device") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			before, _ := os.Lstat(path)
			err := opt.SaveFile(path)
			var ce *CheckpointError
			if !errors.As(err, &ce) {
				t.Fatalf("SaveFile(%s) = %v, want a *CheckpointError", path, err)
			}
			after, _ := os.Lstat(path)
			if before != nil && (after == nil || after.Mode() != before.Mode()) {
				t.Errorf("SaveFile changed %s: mode %v, now %v", path, before.Mode(), after)
			}
		})
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*tmp-*")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}
