//go:build noasm || !(amd64 || arm64)

package cpufeat

// compiled lists the assembly sets of this build: none in a noasm build or
// on an architecture without assembly kernels.
var compiled []ISA
