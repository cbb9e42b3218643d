//go:build !amd64.v3

package kernels

// goamd64v3 reports a build at GOAMD64=v3 or above (see exhaustive).
const goamd64v3 = false
