//go:build race

package linalg

// raceEnabled: the race detector is on. It makes sync.Pool drop a quarter
// of what is put back, so Gemm's pooled workspace allocates now and then.
const raceEnabled = true
