package optim

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkCheckpoint saves and loads 10^8 float32 Adam parameters (an
// 800 MB file; 2 GB of memory for params, state and Load's scratch) and
// writes and reads the same bytes with os.WriteFile and os.ReadFile for
// comparison. Save and WriteFile do not sync; SaveFile adds the temporary
// file, fsync, rename and directory fsync. Skipped with -short.
func BenchmarkCheckpoint(b *testing.B) {
	if testing.Short() {
		b.Skip("10^8 parameters: skipped with -short")
	}
	const n = 100_000_000
	p := make([]float32, n)
	g := make([]float32, n)
	for i := range p {
		p[i] = float32(i%1000) / 1000
		g[i] = float32(i%777)/777 - 0.5
	}
	o, err := New(DefaultAdam(), p)
	if err != nil {
		b.Fatal(err)
	}
	if err := o.Step(g); err != nil { // the state is no longer zero pages
		b.Fatal(err)
	}
	g = nil
	dir := b.TempDir()
	path := filepath.Join(dir, "adam.safetensors")
	if err := o.SaveFile(path); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	size := st.Size()

	b.Run("Save", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			f, err := os.Create(filepath.Join(dir, "save.safetensors"))
			if err != nil {
				b.Fatal(err)
			}
			if err := o.Save(f); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SaveFile", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if err := o.SaveFile(path); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Load", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if err := o.LoadFile(path); err != nil {
				b.Fatal(err)
			}
		}
	})
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("WriteFile", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if err := os.WriteFile(filepath.Join(dir, "write.safetensors"), data, 0o600); err != nil {
				b.Fatal(err)
			}
		}
	})
	data = nil
	b.Run("ReadFile", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if _, err := os.ReadFile(path); err != nil {
				b.Fatal(err)
			}
		}
	})
}
