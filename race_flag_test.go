//go:build race

package optim

// underRace reports a build with the race detector, which empties sync.Pool
// at random: the composed low-precision kernels then allocate their buffers.
const underRace = true
