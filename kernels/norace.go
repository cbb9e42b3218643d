//go:build !race

package kernels

import "github.com/simdoptim/optim/generic"

// raceAnnotated returns k itself: without the race detector there is
// nothing to declare, and the call inlines away (see race.go).
func raceAnnotated[T Float](_ *Set, _ Kind, k generic.Kernel[T]) generic.Kernel[T] { return k }
