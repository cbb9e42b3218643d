// Package cpufeat answers one question for the rest of the module: can this
// CPU and OS run the kernel set with a given name ("generic", "avx2",
// "avx512", "neon")? The dispatcher (optim's dispatch.go) uses it to choose
// a set, and package kernels to refuse a set that would fault with an
// illegal instruction.
package cpufeat
