package linalg

import "testing"

func TestCholeskyFloat32(t *testing.T) {
	a := []float32{4, 99, 2, 10}
	if err := CholeskyFloat32(a, 2); err != nil || a[0] != 2 || a[1] != 99 || a[2] != 1 || a[3] != 3 {
		t.Errorf("L = %v, %v", a, err)
	}
	bad := []float32{1, 0, 0, -1}
	if err := CholeskyFloat32(bad, 2); err == nil || bad[3] != -1 {
		t.Errorf("indefinite: %v, a = %v", err, bad)
	}
	if err := CholeskyFloat32(a, 3); err == nil {
		t.Error("short a accepted")
	}
}

func TestNewtonStepFloat32(t *testing.T) {
	h := []float32{2, 1, 1, 2}
	dst := make([]float32, 2)
	tau, err := NewtonStepFloat32(dst, h, []float32{1, 1}, 2)
	if err != nil || tau != 0 || dst[0] != float32(-1.0/3) || dst[1] != float32(-1.0/3) {
		t.Errorf("d = %v, τ = %g, %v", dst, tau, err)
	}
	tau, err = NewtonStepFloat32(dst, []float32{1, 0, 0, -1}, []float32{1, 1}, 2)
	if err != nil || tau <= 1 {
		t.Errorf("indefinite: τ = %g, %v", tau, err)
	}
	if _, err := NewtonStepFloat32(dst, h, []float32{1}, 2); err == nil {
		t.Error("short g accepted")
	}
}

// TestNewtonStepFloat32TauOverflow: H = −3.4e38·I needs a shift above
// MaxFloat32, which float32 cannot return.
func TestNewtonStepFloat32TauOverflow(t *testing.T) {
	h := []float32{-3.4e38, 0, 0, -3.4e38}
	dst := []float32{42, 42}
	tau, err := NewtonStepFloat32(dst, h, []float32{1, 1}, 2)
	if err == nil {
		t.Errorf("τ = %g accepted", tau)
	}
	if dst[0] != 42 || dst[1] != 42 {
		t.Errorf("dst written on error: %v", dst)
	}
}
