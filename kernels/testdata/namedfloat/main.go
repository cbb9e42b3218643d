// This program must not compile: the stateless layer takes exactly float32
// or float64, because a named float type would reach the kernels' type
// assertion and panic. TestNamedFloatDoesNotCompile builds it.
package main

import "github.com/simdoptim/optim/kernels"

type MyFloat float32

func main() {
	p, g := []MyFloat{1}, []MyFloat{1}
	_ = kernels.SGD(kernels.Generic(), 0, &kernels.Coeffs[MyFloat]{NegLR: -0.1}, p, g, nil)
}
