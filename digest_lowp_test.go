package optim

import (
	"hash/fnv"
	"slices"
	"testing"

	"github.com/simdoptim/optim/kernels"
)

// digestLowpWant is the low-precision digest: the FNV-64a hash of every
// parameter and state bit after the digest configurations of ruleCases
// (digestGroups) run digestSteps steps on digestInputs narrowed to
// bfloat16 and to float16 with the state in the parameters' format, and
// narrowed to one of them (bfloat16 for even configurations, float16 for
// odd ones) with float32 state and with the parameters rounded
// stochastically, then of the copies that float32 master weights write in
// that format (kernels.StepMaster, fused on AVX2 and AVX-512). It
// must come out of every kernel set, on amd64 and arm64 alike (make test
// runs this in every configuration); it was recorded from the logged value
// and changes only when the specification (generic.StepLowp, StepLowpSR)
// or the inputs change on purpose.
const digestLowpWant uint64 = 0xe6a341d4aaca75f8

// TestDigestLowp checks the low-precision digest on every supported set.
func TestDigestLowp(t *testing.T) {
	var configs []Rule
	for _, g := range digestGroups(t) {
		configs = append(configs, g.configs...)
	}
	for _, s := range digestSets() {
		d := &digestWriter{h: fnv.New64a()}
		for ci, rule := range configs {
			params, grads := digestInputs[float32](ci)
			for _, f := range []kernels.Format{kernels.BFloat16, kernels.Float16} {
				digestLowp[uint16](t, d, s, rule, f, params, grads, nil)
			}
			// Float32 state and stochastic rounding take turns at the
			// formats: a third less time under qemu for the same paths.
			f := []kernels.Format{kernels.BFloat16, kernels.Float16}[ci%2]
			digestLowp[float32](t, d, s, rule, f, params, grads, nil)
			digestLowp[uint16](t, d, s, rule, f, params, grads, &kernels.SR{Seed: uint64(ci)})
			digestMaster(t, d, s, rule, f, params, grads)
		}
		if got := d.h.Sum64(); got != digestLowpWant {
			t.Errorf("%s: low-precision digest %#016x, want %#016x", kernels.ConvKernels(s), got, digestLowpWant)
		}
	}
}

// digestLowp steps one configuration's parameters, narrowed to f, on set s
// with the state stored as S (rounded stochastically when sr is not nil,
// keyed by the parameter's index and the step) and hashes the parameters
// and the state after every step's last.
func digestLowp[S kernels.LowpState](t *testing.T, d *digestWriter, s *kernels.Set, rule Rule, f kernels.Format, params [][]float32, grads [][][]float32, sr *kernels.SR) {
	t.Helper()
	narrow := func(x []float32) []uint16 {
		out := make([]uint16, len(x))
		for i, v := range x {
			out[i] = f.Narrow(v)
		}
		return out
	}
	for pi, p32 := range params {
		p := narrow(p32)
		r := newLowpRun[S](t, rule, f, len(p))
		var key *kernels.SR
		if sr != nil {
			k := *sr
			k.Param = uint32(pi)
			key = &k
		}
		for step := range digestSteps {
			r.step(t, s, p, narrow(grads[step][pi]), key)
		}
		d.word(uint64(len(p)))
		for _, x := range p {
			d.word(uint64(x))
		}
		for _, st := range r.state {
			for _, x := range st {
				switch x := any(x).(type) {
				case uint16:
					d.word(uint64(x)) // the format's NaN is canonical
				case float32:
					d.word(bits(x)) // NaN payloads differ between architectures
				}
			}
		}
	}
}

// digestMaster steps one configuration's float32 parameters on set s with
// kernels.StepMaster and hashes the format-f copies after every step's
// last; the float32 trajectory is the float32 digest's.
func digestMaster(t *testing.T, d *digestWriter, s *kernels.Set, rule Rule, f kernels.Format, params [][]float32, grads [][][]float32) {
	t.Helper()
	for pi, p32 := range params {
		p := slices.Clone(p32)
		copy16 := make([]uint16, len(p))
		r := newLowpRun[float32](t, rule, f, len(p))
		for step := range digestSteps {
			stepMaster(t, r, s, p, grads[step][pi], copy16)
		}
		d.word(uint64(len(p)))
		for _, x := range copy16 {
			d.word(uint64(x)) // the format's NaN is canonical
		}
	}
}
