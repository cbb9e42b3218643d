package kernels

// The NEON kernels are compiled from the same descriptions as the x86 sets
// (package generic) by asm/cmd/update-arm64.
//go:generate go run -C ../asm ./cmd/update-arm64 -out ../kernels/update_arm64.s -stubs ../kernels/update_arm64.go
