// Package cpufeat owns the choice of instruction set for the whole module:
// which kernel sets exist (ISA), which are compiled into this binary, which
// the CPU and OS can run and what each requires (the one list of features
// that the README, the demo and the tests print or check), and the choice
// itself, made once from OPTIM_ISA with its reason (Chosen). Package optim's
// update kernels and package linalg's factorization kernels both run the
// set Chosen names, so OPTIM_ISA means the same thing to both. It also
// knows the optional extensions (Ext) that some kernels of a set use where
// the CPU has them, with the same bits as without (AVX512_BF16 for the
// bfloat16 narrowing), which OPTIM_ISA can switch off ("nobf16").
package cpufeat
