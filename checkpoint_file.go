package optim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// SaveFile writes Save's checkpoint to path atomically: a crash at any
// moment leaves either the old file or the new one, never a torn file. The
// data goes to a temporary file in the same directory, which is synced,
// then renamed over path, then the directory is synced so that the rename
// itself survives a power loss. If that last sync fails, the error is
// returned although path may already hold the new file. The file's mode
// is that of os.CreateTemp, 0600.
//
// A symbolic link at path is followed, through every link in a chain,
// and the file it names is replaced in that file's directory, so that a
// link such as latest -> ckpt-100.safetensors keeps pointing at the
// checkpoint it names, which now holds the new state; a dangling link
// gets its target created. path (or the file a link names) must be a
// regular file or absent: a directory, a device such as /dev/null, a pipe
// or a socket is refused with a *CheckpointError, and nothing is written.
func (o *Optimizer[T]) SaveFile(path string) error { return o.saveFile("SaveFile", path, nil) }

// SaveFileWith is SaveFile with the caller's entries, as SaveWith.
func (o *Optimizer[T]) SaveFileWith(path string, extra map[string]json.RawMessage) error {
	return o.saveFile("SaveFileWith", path, extra)
}

// LoadFile loads a checkpoint from path, as Load.
func (o *Optimizer[T]) LoadFile(path string) error { return o.loadFile("LoadFile", path, nil) }

// LoadFileWith loads a checkpoint from path, as LoadWith.
func (o *Optimizer[T]) LoadFileWith(path string, accept func(extra map[string]json.RawMessage) error) error {
	return o.loadFile("LoadFileWith", path, accept)
}

// fileSystem is the file operations SaveFile and LoadFile use. Tests swap
// fsys for one that fails at a chosen stage, to check that a crash there
// leaves the old file.
type fileSystem interface {
	CreateTemp(dir, pattern string) (tempFile, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	SyncDir(dir string) error
	Open(name string) (io.ReadCloser, error)
}

type tempFile interface {
	io.Writer
	Sync() error
	Close() error
	Name() string
}

var fsys fileSystem = osFS{}

type osFS struct{}

func (osFS) CreateTemp(dir, pattern string) (tempFile, error) { return os.CreateTemp(dir, pattern) }
func (osFS) Rename(oldpath, newpath string) error             { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                         { return os.Remove(name) }
func (osFS) Open(name string) (io.ReadCloser, error)          { return os.Open(name) }

// SyncDir makes a rename in dir durable. Windows cannot open a directory
// for syncing; its rename is as durable as NTFS makes it.
func (osFS) SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

func (o *Optimizer[T]) saveFile(op, path string, extra map[string]json.RawMessage) error {
	return saveAtomic(op, path, func(w io.Writer) error { return o.save(op, w, extra) })
}

// saveAtomic writes a file to path with write, atomically, as SaveFile
// documents.
func saveAtomic(op, path string, write func(io.Writer) error) (err error) {
	path, err = saveTarget(op, path)
	if err != nil {
		return err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := fsys.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return ckErr(op, err, "creating a temporary file beside %s", path)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			// Best effort: the old file at path is intact either way.
			fsys.Remove(tmp)
		}
	}()
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return ckErr(op, err, "syncing %s", tmp)
	}
	if err := f.Close(); err != nil {
		return ckErr(op, err, "closing %s", tmp)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return ckErr(op, err, "renaming %s to %s", tmp, path)
	}
	if err := fsys.SyncDir(dir); err != nil {
		// The rename happened: path holds the new file, which must not be
		// removed, but the rename may not survive a power loss.
		return &CheckpointError{Op: op, Reason: "syncing the directory " + dir + " after the rename (" + path + " holds the new checkpoint, possibly not durably)", Err: err}
	}
	return nil
}

func (o *Optimizer[T]) loadFile(op, path string, accept func(map[string]json.RawMessage) error) error {
	f, size, err := openSized(path)
	if err != nil {
		return ckErr(op, err, "opening")
	}
	defer f.Close()
	return o.load(op, f, size, accept)
}

// openSized opens path for reading and returns its size, -1 if unknown.
func openSized(path string) (io.ReadCloser, int64, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, 0, err
	}
	size := int64(-1)
	if st, ok := f.(interface{ Stat() (os.FileInfo, error) }); ok {
		// The header length is checked against the size. A size of 0 is
		// taken as unknown: files such as those of /proc report 0 and
		// still have content, and a file that is really empty fails as a
		// truncated header either way.
		if fi, err := st.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
			size = fi.Size()
		}
	}
	return f, size, nil
}

// maxLinkHops bounds the symbolic links saveTarget follows, as the
// kernel's own limit (40 on Linux) bounds a path lookup: a cycle of links
// is an error rather than an endless loop.
const maxLinkHops = 40

// saveTarget returns the path of the file that SaveFile replaces: path
// itself, or the file that the chain of symbolic links at path names
// (relative links resolved against their own directory). The file must be
// a regular file or absent.
func saveTarget(op, path string) (string, error) {
	for range maxLinkHops {
		fi, err := os.Lstat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return path, nil
		case err != nil:
			return "", ckErr(op, err, "examining %s", path)
		case fi.Mode().IsRegular():
			return path, nil
		case fi.Mode()&fs.ModeSymlink == 0:
			return "", &CheckpointError{Op: op, Reason: fmt.Sprintf(
				"%s is a %s, not a regular file: a checkpoint replaces only a regular file or creates an absent one", path, fileKind(fi.Mode()))}
		}
		target, err := os.Readlink(path)
		if err != nil {
			return "", ckErr(op, err, "reading the symbolic link %s", path)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		path = target
	}
	return "", &CheckpointError{Op: op, Reason: fmt.Sprintf("more than %d symbolic links in a chain (a cycle?) ending at %s", maxLinkHops, path)}
}

// fileKind names a non-regular file's type in messages.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "non-regular file (" + m.Type().String() + ")"
}
