package arm64

import (
	"testing"
)

// TestConvEncodings checks the conversion instructions' encodings, with
// other registers than the base encodings', against llvm-mc's
// (llvm-mc -triple=aarch64 -show-encoding), and their GNU comments.
func TestConvEncodings(t *testing.T) {
	for _, tc := range []struct {
		base uint32
		want uint32
		gnu  string
	}{
		{encSHRN4H, 0x0f108441, "shrn v1.4h, v2.4s, #16"},
		{encSHRN8H, 0x4f108441, "shrn2 v1.8h, v2.4s, #16"},
		{encFCVTN4H, 0x0e216841, "fcvtn v1.4h, v2.4s"},
		{encFCVTN8H, 0x4e216841, "fcvtn2 v1.8h, v2.4s"},
		{encSHLL4H, 0x2e613841, "shll v1.4s, v2.4h, #16"},
		{encSHLL8H, 0x6e613841, "shll2 v1.4s, v2.8h, #16"},
		{encFCVTL4S, 0x0e217841, "fcvtl v1.4s, v2.4h"},
		{encFCVTL24S, 0x4e217841, "fcvtl2 v1.4s, v2.8h"},
	} {
		if got, want := convPair(tc.base, 1, 2), word(tc.want, tc.gnu); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if got, want := logic3("bif", encBIF, 1, 2, 3), word(0x6ee31c41, "bif v1.16b, v2.16b, v3.16b"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := fp3("fcmeq", encFCMEQ, arr4S, 1, 2, 3), word(0x4e23e441, "fcmeq v1.4s, v2.4s, v3.4s"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
