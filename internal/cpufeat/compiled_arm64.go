//go:build !noasm

package cpufeat

// compiled lists the sets with assembly for arm64: NEON, part of every
// ARMv8-A CPU.
var compiled = []ISA{NEON}
