//go:build noasm || !(amd64 || arm64)

package kernels

// convForms is empty where no assembly is compiled: every set converts
// with the reference.
var convForms []convForm
