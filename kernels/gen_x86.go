package kernels

// The AVX2 and AVX-512 kernels are compiled from the rules' descriptions in
// package generic by the avo program in asm/cmd/update-amd64.
//go:generate go run -C ../asm ./cmd/update-amd64 -out ../kernels/update_amd64.s -stubs ../kernels/update_amd64.go
