package kernels

// The NEON kernel set is generated from the same per-rule descriptions as
// the x86 sets (package rules in the nested asm module).
//go:generate go run -C ../asm ./cmd/update-arm64 -out ../kernels/update_arm64.s -stubs ../kernels/update_arm64.go
