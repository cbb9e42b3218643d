//go:build noasm

package optim

// noasmBuild reports a build with the noasm tag, where only generic is
// compiled in.
const noasmBuild = true
