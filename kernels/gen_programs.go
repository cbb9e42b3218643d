package kernels

// Every program of the assembly kernels is documented once, whatever the
// set and element type, in update_programs.go, which the generated files of
// every architecture refer to. Each rule's Kind constant and validated
// function are generated from its description into update_rules.go, on
// every architecture.
//go:generate go run -C ../asm ./cmd/update-programs -out ../kernels/update_programs.go -rules ../kernels/update_rules.go
