package rules

import "unsafe"

func unsafeCoeffs[C any](c *C) unsafe.Pointer { return unsafe.Pointer(c) }
