//go:build !noasm

package cpufeat

// compiled lists the sets with assembly for amd64, fastest first.
var compiled = []ISA{AVX512, AVX2}
