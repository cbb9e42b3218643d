package schedule

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/simdoptim/optim"
	"github.com/simdoptim/optim/internal/detmath"
)

// args reads a fuzzer's bytes as the arguments of a schedule: each read
// takes what it needs from the front, and zeros once the bytes run out.
type argReader struct{ b []byte }

func (r *argReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// intn is in [0, n).
func (r *argReader) intn(n int) int { return int(uint16(r.byte())<<8|uint16(r.byte())) % n }

// unit is in [0, 1], both ends included.
func (r *argReader) unit() float64 { return float64(uint16(r.byte())<<8|uint16(r.byte())) / 65535 }

// between is in [lo, hi]; fractions of a third and of ten come up, and
// the ends, as users write them.
func (r *argReader) between(lo, hi float64) float64 {
	switch r.byte() % 8 {
	case 0:
		return lo
	case 1:
		return hi
	case 2:
		return lo + (hi-lo)/3
	case 3:
		return lo + (hi-lo)*float64(r.intn(11))/10
	}
	return lo + (hi-lo)*r.unit()
}

func (r *argReader) perGroup(groups int, lo, hi float64) []float64 {
	n := 1
	if r.byte()%2 == 1 {
		n = groups
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = r.between(lo, hi)
	}
	return v
}

// lambda is one of the functions users pass LambdaLR and MultiplicativeLR,
// all of them >= 0 in exact arithmetic; 1 - e*(1/n) rounds to a tiny
// negative number past e = n for some n, as a linear decay to zero does.
func (r *argReader) lambda() func(int) float64 {
	a, n := r.between(0.5, 1), 1+r.intn(60)
	switch r.byte() % 4 {
	case 0:
		return func(e int) float64 { return detmath.Pow(a, float64(e)) }
	case 1:
		return func(int) float64 { return a }
	case 2:
		return func(e int) float64 { return 1 / (1 + float64(e)/float64(n)) }
	}
	return func(e int) float64 {
		if e > n {
			return 1 - float64(n)*(1/float64(n)) // 0, or within rounding of it
		}
		return 1 - float64(e)*(1/float64(n))
	}
}

// fuzzSpec is a schedule drawn from the documented ranges of its arguments:
// the spec, the number of steps that runs it to its end (and a few more
// where it has no end), and whether an optimizer may have to hold a value
// it cannot step with (see Holder): OneCycleLR's extrapolated last step,
// a negative EtaMin or Gamma, a Gamma above 1 whose rate outgrows float32,
// a chain of schedulers that undo each other (recovers).
type fuzzSpec struct {
	spec    Spec
	steps   int
	mayHold bool
}

// leafKinds is the number of leaf specs (kinds 0 to 12 of leaf); the
// composites and ReduceLROnPlateau follow them.
const leafKinds = 13

func (r *argReader) leaf(kind, groups int) fuzzSpec {
	gamma := func(f *fuzzSpec, hi float64) float64 {
		g := r.between(0, hi)
		f.mayHold = f.mayHold || g > 1
		return g
	}
	var f fuzzSpec
	switch kind {
	case 0:
		fs := []func(int) float64{r.lambda()}
		if groups > 1 && r.byte()%2 == 1 {
			for range groups - 1 {
				fs = append(fs, r.lambda())
			}
		}
		f.spec, f.steps = LambdaLR{Lambdas: fs}, 80
	case 1:
		f.spec, f.steps = MultiplicativeLR{Lambdas: []func(int) float64{r.lambda()}}, 80
	case 2:
		s := StepLR{StepSize: 1 + r.intn(20)}
		s.Gamma = gamma(&f, 1.5)
		f.spec, f.steps = s, 3*s.StepSize+5
	case 3:
		s := MultiStepLR{Milestones: []int{r.intn(30), r.intn(30), r.intn(60)}}
		s.Gamma = gamma(&f, 1.5)
		f.spec, f.steps = s, 65
	case 4:
		s := ConstantLR{TotalIters: r.intn(40), Factor: r.between(0, 1)}
		if s.Factor == 0 && s.TotalIters > 0 {
			s.Factor = 1.0 / 3
		}
		f.spec, f.steps = s, s.TotalIters+10
	case 5:
		s := LinearLR{TotalIters: r.intn(40), StartFactor: r.between(0, 1), EndFactor: r.between(0, 1)}
		if s.StartFactor == 0 && s.TotalIters > 0 {
			s.StartFactor = 1.0 / 3
		}
		f.spec, f.steps = s, s.TotalIters+10
	case 6:
		var s ExponentialLR
		s.Gamma = gamma(&f, 1.3)
		f.spec, f.steps = s, 80
	case 7:
		s := PolynomialLR{TotalIters: r.intn(40), Power: r.between(0, 4)}
		f.spec, f.steps = s, s.TotalIters+10
	case 8:
		s := CosineAnnealingLR{TMax: 1 + r.intn(40), EtaMin: r.between(-0.01, 0.05)}
		f.mayHold = s.EtaMin < 0
		f.spec, f.steps = s, 2*s.TMax+5
	case 9:
		s := CosineAnnealingWarmRestarts{T0: 1 + r.intn(20), TMult: 1 + r.intn(3), EtaMin: r.between(0, 0.05)}
		f.spec, f.steps = s, 80
	case 10:
		s := DefaultCyclicLR(0, 0)
		s.BaseLR, s.MaxLR = r.perGroup(groups, 0, 1), r.perGroup(groups, 0, 1)
		s.StepSizeUp, s.StepSizeDown = 1+r.intn(20), r.intn(20)
		s.Mode = []string{"triangular", "triangular2", "exp_range"}[r.byte()%3]
		s.Gamma = r.between(-1, 1.05)
		f.mayHold = s.Mode == "exp_range" && (s.Gamma < 0 || s.Gamma > 1)
		s.CycleMomentum = r.byte()%2 == 0
		s.BaseMomentum, s.MaxMomentum = r.perGroup(groups, 0, 0.99), r.perGroup(groups, 0, 0.99)
		f.spec, f.steps = s, 2*(s.StepSizeUp+max(s.StepSizeUp, s.StepSizeDown))+5
	case 11:
		s := DefaultOneCycleLR(0, 1+r.intn(120))
		s.MaxLR = r.perGroup(groups, 0, 1)
		s.PctStart = r.between(0, 1)
		s.AnnealStrategy = []string{"cos", "linear"}[r.byte()%2]
		s.CycleMomentum = r.byte()%2 == 0
		s.BaseMomentum, s.MaxMomentum = r.perGroup(groups, 0, 0.99), r.perGroup(groups, 0, 0.99)
		s.DivFactor, s.FinalDivFactor = r.between(1e-3, 1e4), r.between(1e-3, 1e6)
		s.ThreePhase = r.byte()%2 == 0
		// Its last step extrapolates: the linear one below the minimum (a
		// negative rate for a small enough minimum, a momentum beyond its
		// range). It may hold values after it (ends), not before.
		f.spec, f.steps = s, s.TotalSteps
	case 12:
		s := SWALR{SwaLR: r.perGroup(groups, 0, 1), AnnealEpochs: r.intn(40), AnnealStrategy: []string{"cos", "linear"}[r.byte()%2]}
		f.spec, f.steps = s, s.AnnealEpochs+10
	}
	return f
}

// spec draws any schedule: a leaf, SequentialLR of leaves (OneCycleLR
// last, since it ends), ChainedScheduler of leaves or a SequentialLR, or
// ReduceLROnPlateau.
func (r *argReader) spec(groups int) fuzzSpec {
	switch k := int(r.byte()) % (leafKinds + 3); {
	case k < leafKinds:
		return r.leaf(k, groups)
	case k == leafKinds:
		s := DefaultReduceLROnPlateau()
		s.Mode, s.ThresholdMode = []string{"min", "max"}[r.byte()%2], []string{"rel", "abs"}[r.byte()%2]
		s.Factor, s.Patience, s.Cooldown = r.between(0, 0.99), r.intn(5), r.intn(3)
		s.MinLR, s.Eps = r.perGroup(groups, 0, 1e-3), r.between(0, 1e-6)
		return fuzzSpec{spec: s, steps: 80}
	case k == leafKinds+1:
		return r.sequential(groups)
	default:
		c := ChainedScheduler{}
		f := fuzzSpec{steps: math.MaxInt}
		longest := 0
		for i := range 2 + r.intn(2) {
			var in fuzzSpec
			if i == 0 && r.byte()%4 == 0 {
				in = r.sequential(groups)
			} else {
				in = r.leaf(r.intn(leafKinds), groups)
			}
			c.Schedulers = append(c.Schedulers, in.spec)
			f.mayHold = f.mayHold || in.mayHold || recovers(in.spec)
			if in.ends() {
				f.steps = min(f.steps, in.steps)
			}
			longest = max(longest, in.steps)
		}
		if f.steps == math.MaxInt {
			f.steps = longest
		}
		f.spec = c
		return f
	}
}

// recovers reports whether s computes its rate from the rate it set before,
// by an affine map that needs the rate to be its own: SWALR recovers the
// rate it anneals from, CosineAnnealingLR steps relative to EtaMin. In a
// ChainedScheduler, where another scheduler changes the rate in between,
// they compute negative rates exactly, as torch does.
func recovers(s Spec) bool {
	switch s := s.(type) {
	case SWALR:
		return true
	case CosineAnnealingLR:
		return s.EtaMin != 0
	case SequentialLR:
		return slices.ContainsFunc(s.Schedulers, recovers)
	}
	return false
}

// ends reports whether f cannot step past f.steps: a OneCycleLR, a
// SequentialLR that ends with one, a ChainedScheduler with one.
func (f fuzzSpec) ends() bool { return ends(f.spec) }

func ends(s Spec) bool {
	switch s := s.(type) {
	case OneCycleLR:
		return true
	case SequentialLR:
		return ends(s.Schedulers[len(s.Schedulers)-1])
	case ChainedScheduler:
		return slices.ContainsFunc(s.Schedulers, ends)
	}
	return false
}

func (r *argReader) sequential(groups int) fuzzSpec {
	n := 2 + r.intn(2)
	s := SequentialLR{}
	f := fuzzSpec{}
	at := 0
	for i := range n {
		kind := r.intn(leafKinds)
		if i < n-1 && kind == 11 {
			kind = 5 // OneCycleLR ends: only the last one may be one
		}
		in := r.leaf(kind, groups)
		s.Schedulers = append(s.Schedulers, in.spec)
		f.mayHold = f.mayHold || in.mayHold
		if i < n-1 {
			at += r.intn(40)
			s.Milestones = append(s.Milestones, at)
		} else {
			f.steps = at + in.steps
		}
	}
	f.spec = s
	return f
}

// FuzzSchedulers runs every scheduler, drawn over its documented argument
// ranges, to its end with an optimizer attached (SGD with momentum or
// AdamW, float32, one to three groups), stepping the optimizer between
// the scheduler's steps as torch's loop does. Every scheduler step must
// succeed: a rate within rounding of zero never wedges a schedule. Every
// optimizer step must succeed too, unless the schedule can compute a value
// the rule refuses (fuzzSpec.mayHold): then it is refused with a
// *optim.HeldRateError for a value the group reports, clearly outside the
// rule's range, and changes nothing. A checkpoint taken at the end loads
// into a new optimizer with the same reported values and the same refusal.
func FuzzSchedulers(f *testing.F) {
	rng := rand.New(rand.NewPCG(20, 5))
	for kind := range leafKinds + 3 {
		for range 6 {
			b := make([]byte, 96)
			for i := range b {
				b[i] = byte(rng.UintN(256))
			}
			b[2] = byte(kind) // after the group count and the rule
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &argReader{b: data}
		groups := 1 + int(r.byte())%3
		adam := r.byte()%2 == 1
		fs := r.spec(groups)
		var gs []optim.Group[float32]
		var ps [][]float32
		for i := range groups {
			lr := r.between(1e-4, 1)
			var rule optim.Rule = optim.SGD{LR: lr, Momentum: 0.9}
			if adam {
				a := optim.DefaultAdamW()
				a.LR = lr
				rule = a
			}
			ps = append(ps, []float32{1, -2})
			gs = append(gs, optim.Group[float32]{Rule: rule, Params: ps[i:]})
		}
		o, err := optim.NewGroups(gs...)
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(o, fs.spec)
		var ae *ArgError
		if errors.As(err, &ae) && (ae.Field == "PctStart" || ae.Field == "TotalIters") {
			return // a division by zero in torch: a OneCycleLR phase without steps, a closed form over 0 steps
		}
		if err != nil {
			t.Fatalf("New(%#v): %v", fs.spec, err)
		}
		grads := make([][]float32, groups)
		for i := range grads {
			grads[i] = []float32{0.5, -1}
		}
		_, plateau := fs.spec.(ReduceLROnPlateau)
		// Each group's rate before the scheduler's last step: a negative
		// rate within 2^-40 of it is the rounding of a zero, written as 0.
		old := make([]float64, groups)
		steps := min(fs.steps, 300)
		for k := 1; k <= steps+1; k++ {
			before := clone(ps)
			err := o.Step(grads...)
			if err != nil {
				// OneCycleLR extrapolates its last step.
				checkRefusal(t, o, err, fs, k, fs.mayHold || k > steps && fs.ends(), old)
				if !reflect.DeepEqual(ps, before) {
					t.Fatalf("step %d: a refused optimizer step changed the parameters", k)
				}
			}
			if k > steps {
				break
			}
			for i := range old {
				old[i] = o.GroupLR(i)
			}
			if plateau {
				err = s.StepMetric(r.between(0, 1))
			} else {
				err = s.Step()
			}
			if err != nil {
				t.Fatalf("%#v: scheduler step %d of %d: %v", fs.spec, k, fs.steps, err)
			}
		}
		// The end state, held values included, survives a checkpoint.
		var buf bytes.Buffer
		if err := o.Save(&buf); err != nil {
			t.Fatal(err)
		}
		o2, err := optim.NewGroups(gs...)
		if err != nil {
			t.Fatal(err)
		}
		if err := o2.Load(&buf); err != nil {
			t.Fatalf("Load of the end state: %v", err)
		}
		for i := range groups {
			m, _ := o.GroupMomentum(i)
			m2, _ := o2.GroupMomentum(i)
			if math.Float64bits(o.GroupLR(i)) != math.Float64bits(o2.GroupLR(i)) || math.Float64bits(m) != math.Float64bits(m2) {
				t.Fatalf("group %d: saved lr %v momentum %v, loaded %v %v", i, o.GroupLR(i), m, o2.GroupLR(i), m2)
			}
		}
		e1, e2 := o.Step(grads...), o2.Step(grads...)
		if (e1 == nil) != (e2 == nil) || e1 != nil && e1.Error() != e2.Error() {
			t.Fatalf("after Load: step %v, loaded %v", e1, e2)
		}
	})
}

// checkRefusal checks an optimizer step's error: a HeldRateError where the
// schedule may hold values, for a value the group reports and that is
// clearly outside its rule's range, not the rounding of a valid one (old:
// the rates before the scheduler's step that set it).
func checkRefusal(t *testing.T, o *optim.Optimizer[float32], err error, fs fuzzSpec, k int, mayHold bool, old []float64) {
	t.Helper()
	var he *optim.HeldRateError
	if !mayHold || !errors.As(err, &he) {
		t.Fatalf("%#v: optimizer step %d: %v", fs.spec, k, err)
	}
	v := o.GroupLR(he.Group)
	if he.Field != "LR" {
		v, _ = o.GroupMomentum(he.Group)
	}
	if math.Float64bits(v) != math.Float64bits(he.Value) {
		t.Fatalf("step %d: held %s %v, the group reports %v", k, he.Field, he.Value, v)
	}
	// Rounding leaves a few units in the last place of the values a
	// step combines, 2^-52 of them: far below these bounds.
	switch {
	case he.Field == "LR" && v < 0 && -v <= 0x1p-50*math.Abs(old[he.Group]):
		t.Fatalf("%#v: step %d: a rate of %v, within rounding of zero, was held", fs.spec, k, v)
	case he.Field == "LR" && v >= 0 && v < 1e30:
		t.Fatalf("%#v: step %d: a rate of %v was held", fs.spec, k, v)
	case he.Field != "LR" && v >= 0 && v < 1:
		t.Fatalf("%#v: step %d: a momentum of %v was held", fs.spec, k, v)
	}
}
