//go:build !amd64 && !arm64

package optim

import "runtime"

func cpuSupports(isa string) bool { return isa == "generic" }

func cpuDescription() string { return runtime.GOARCH + " CPU" }
