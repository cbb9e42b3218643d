package kernels

// The conversion kernels between float32 and bfloat16 or float16 are
// compiled from their descriptions (internal/ir/conv.go) into files of
// their own, apart from the update kernels.
//go:generate go run -C ../asm ./cmd/lowp-amd64 -out ../kernels/lowp_amd64.s -stubs ../kernels/lowp_amd64.go
//go:generate go run -C ../asm ./cmd/lowp-arm64 -out ../kernels/lowp_arm64.s -stubs ../kernels/lowp_arm64.go
