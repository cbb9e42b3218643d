//go:build !amd64 && !arm64

package cpufeat

import "runtime"

// Supports reports whether this CPU can run the named set: only generic
// exists for this architecture.
func Supports(isa string) bool { return isa == "generic" }

// Describe names the CPU and the features that matter to the kernel sets.
func Describe() string { return runtime.GOARCH + " CPU" }
