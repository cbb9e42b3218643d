package kernels_test

import (
	"fmt"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// A step of Adam on parameters, gradients and state all stored as bfloat16,
// computed in float32 and rounded once per stored value.
func ExampleStepLowp() {
	set := kernels.Generic() // or any compiled set that is Supported
	c, v := generic.AdamCoeffs[float32](0.1, 0.9, 0.999, 1e-8, 0, false, false, false, 1)
	bf := func(x float32) uint16 { return kernels.BFloat16.Narrow(x) }
	p, g := []uint16{bf(1), bf(-2)}, []uint16{bf(0.5), bf(0.25)}
	m, sq := make([]uint16, 2), make([]uint16, 2)
	if err := kernels.StepLowp(set, kernels.KindAdam, kernels.BFloat16, v, &c, p, g, m, sq, nil); err != nil {
		fmt.Println(err)
		return
	}
	for i := range p {
		fmt.Printf("p=%v m=%v\n", kernels.BFloat16.Widen(p[i]), kernels.BFloat16.Widen(m[i]))
	}
	// Output:
	// p=0.8984375 m=0.050048828
	// p=-2.09375 m=0.025024414
}

// float32 master weights stepped by SGD, writing their bfloat16 copy in the
// same pass.
func ExampleStepMaster() {
	set := kernels.Generic()
	c, v := generic.SGDCoeffs[float32](0.5, 0, 0, 0, false, false, false)
	p, g := []float32{1.001, 3}, []float32{0.002, 1}
	copy16 := make([]uint16, 2)
	if err := kernels.StepMaster(set, kernels.KindSGD, kernels.BFloat16, v, &c, p, g, nil, nil, nil, copy16); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p, kernels.BFloat16.Widen(copy16[0]), kernels.BFloat16.Widen(copy16[1]))
	// Output: [1 2.5] 1 2.5
}

// Stochastic rounding keeps, on average, an update smaller than half of
// bfloat16's gap, which rounding to nearest loses every time.
func ExampleStepLowpSR() {
	set := kernels.Generic()
	c, v := generic.SGDCoeffs[float32](1, 0, 0, 0, false, false, false)
	const n = 10000
	p, g := make([]uint16, n), make([]uint16, n)
	for i := range p {
		p[i], g[i] = kernels.BFloat16.Narrow(1), kernels.BFloat16.Narrow(0.001) // 1 - 0.001: 1/8 of a gap below 1
	}
	sr := kernels.SR{Seed: 42, Param: 0, Step: 1}
	if err := kernels.StepLowpSR[uint16](set, kernels.KindSGD, kernels.BFloat16, v, &c, sr, p, g, nil, nil, nil); err != nil {
		fmt.Println(err)
		return
	}
	sum := 0.0
	for _, h := range p {
		sum += float64(kernels.BFloat16.Widen(h))
	}
	fmt.Printf("mean %.3f\n", sum/n)
	// Output: mean 0.999
}
