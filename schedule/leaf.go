package schedule

import (
	"math"
	"slices"

	"github.com/simdoptim/optim/internal/detmath"
)

// leaf is one of torch's _LRScheduler subclasses: the shared counters and
// base rates, and the class's rule for the next rates.
type leaf struct {
	kind      string
	lastEpoch int       // torch's last_epoch
	stepCount int       // torch's _step_count
	baseLRs   []float64 // torch's base_lrs
	rule      rule
}

// rule is what differs between torch's _LRScheduler subclasses.
type rule interface {
	// getLR is torch's get_lr(): the chainable form where torch uses it. It
	// may set g.mom (momentum cycling), as torch's get_lr sets the groups'.
	getLR(l *leaf, g *groups) ([]float64, error)
	// closedLR is torch's _get_closed_form_lr, which torch uses only when
	// step is given an epoch: SequentialLR's step(0) at a milestone. ok is
	// false for classes without one.
	closedLR(l *leaf, g *groups) (lrs []float64, ok bool)
}

// newLeaf ends every leaf's construction as torch's _LRScheduler.__init__
// does: initial_lr defaults to the group's rate, base_lrs are the initial
// rates, and the initial step sets the rates of step 0.
func newLeaf(kind string, r rule, g *groups) (*leaf, error) {
	g.setDefaultInitialLR()
	l := &leaf{kind: kind, lastEpoch: -1, baseLRs: slices.Clone(g.initialLR), rule: r}
	return l, l.initialStep(g)
}

func (l *leaf) calls() int     { return l.lastEpoch }
func (l *leaf) active() string { return l.kind }

// initialStep is torch's _initial_step.
func (l *leaf) initialStep(g *groups) error {
	l.stepCount = 0
	return l.step(g)
}

func (l *leaf) step(g *groups) error {
	if w, ok := l.rule.(*warmRestarts); ok {
		return w.step(l, g, l.lastEpoch < 0)
	}
	l.stepCount++
	l.lastEpoch++
	lrs, err := l.rule.getLR(l, g)
	if err != nil {
		return err
	}
	copy(g.lr, lrs)
	return nil
}

// stepZero is torch's step(0), which SequentialLR calls at a milestone: the
// closed form at epoch 0 where the class has one, get_lr otherwise.
func (l *leaf) stepZero(g *groups) error {
	if w, ok := l.rule.(*warmRestarts); ok {
		return w.step(l, g, true)
	}
	l.stepCount++
	l.lastEpoch = 0
	lrs, ok := l.rule.closedLR(l, g)
	if !ok {
		var err error
		if lrs, err = l.rule.getLR(l, g); err != nil {
			return err
		}
	}
	copy(g.lr, lrs)
	return nil
}

// mapLR applies f to each group's index.
func mapLR(n int, f func(i int) float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

// pow is Python's float ** number: CPython's float_pow is C's pow after
// special cases (y == 0, x == 1) that detmath.Pow shares, and detmath.Pow has
// the same bits on every architecture.
func pow(x, y float64) float64 { return detmath.Pow(x, y) }

// --- LambdaLR, MultiplicativeLR ---

type lambdaRule struct{ fs []func(int) float64 }

func (r *lambdaRule) f(i int) func(int) float64 {
	if len(r.fs) == 1 {
		return r.fs[0]
	}
	return r.fs[i]
}

func (s LambdaLR) build(g *groups) (node, error) {
	return newLeaf(s.kind(), &lambdaRule{fs: s.Lambdas}, g)
}

func (r *lambdaRule) getLR(l *leaf, g *groups) ([]float64, error) {
	return mapLR(len(g.lr), func(i int) float64 { return l.baseLRs[i] * r.f(i)(l.lastEpoch) }), nil
}

func (r *lambdaRule) closedLR(*leaf, *groups) ([]float64, bool) { return nil, false }

type multiplicativeRule struct{ lambdaRule }

func (s MultiplicativeLR) build(g *groups) (node, error) {
	return newLeaf(s.kind(), &multiplicativeRule{lambdaRule{fs: s.Lambdas}}, g)
}

func (r *multiplicativeRule) getLR(l *leaf, g *groups) ([]float64, error) {
	if l.lastEpoch > 0 {
		return mapLR(len(g.lr), func(i int) float64 { return g.lr[i] * r.f(i)(l.lastEpoch) }), nil
	}
	return slices.Clone(g.lr), nil
}

// --- StepLR ---

type stepRule struct{ StepLR }

func (s StepLR) build(g *groups) (node, error) { return newLeaf(s.kind(), &stepRule{s}, g) }

func (r *stepRule) getLR(l *leaf, g *groups) ([]float64, error) {
	if l.lastEpoch == 0 || l.lastEpoch%r.StepSize != 0 {
		return slices.Clone(g.lr), nil
	}
	return mapLR(len(g.lr), func(i int) float64 { return g.lr[i] * r.Gamma }), nil
}

func (r *stepRule) closedLR(l *leaf, g *groups) ([]float64, bool) {
	k := pow(r.Gamma, float64(floorDiv(l.lastEpoch, r.StepSize)))
	return mapLR(len(g.lr), func(i int) float64 { return l.baseLRs[i] * k }), true
}

// floorDiv is Python's //.
func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// --- MultiStepLR ---

type multiStepRule struct {
	gamma  float64
	counts map[int]int // torch's Counter(milestones)
	sorted []int
}

func (s MultiStepLR) build(g *groups) (node, error) {
	r := &multiStepRule{gamma: s.Gamma, counts: map[int]int{}, sorted: slices.Sorted(slices.Values(s.Milestones))}
	for _, m := range s.Milestones {
		r.counts[m]++
	}
	return newLeaf(s.kind(), r, g)
}

func (r *multiStepRule) getLR(l *leaf, g *groups) ([]float64, error) {
	k, ok := r.counts[l.lastEpoch]
	if !ok {
		return slices.Clone(g.lr), nil
	}
	f := pow(r.gamma, float64(k))
	return mapLR(len(g.lr), func(i int) float64 { return g.lr[i] * f }), nil
}

func (r *multiStepRule) closedLR(l *leaf, g *groups) ([]float64, bool) {
	// bisect_right: the number of milestones <= last_epoch.
	k, _ := slices.BinarySearch(r.sorted, l.lastEpoch+1)
	f := pow(r.gamma, float64(k))
	return mapLR(len(g.lr), func(i int) float64 { return l.baseLRs[i] * f }), true
}

// --- ConstantLR ---

type constantRule struct{ ConstantLR }

func (s ConstantLR) build(g *groups) (node, error) { return newLeaf(s.kind(), &constantRule{s}, g) }

func (r *constantRule) getLR(l *leaf, g *groups) ([]float64, error) {
	switch l.lastEpoch {
	case 0:
		return mapLR(len(g.lr), func(i int) float64 { return g.lr[i] * r.Factor }), nil
	case r.TotalIters:
		return mapLR(len(g.lr), func(i int) float64 { return g.lr[i] * (1.0 / r.Factor) }), nil
	}
	return slices.Clone(g.lr), nil
}

func (r *constantRule) closedLR(l *leaf, g *groups) ([]float64, bool) {
	f := r.Factor + 0.0 // (last_epoch >= total_iters) * (1 - factor) is 0.0 or 1 - factor
	if l.lastEpoch >= r.TotalIters {
		f = r.Factor + (1 - r.Factor)
	}
	return mapLR(len(g.lr), func(i int) float64 { return l.baseLRs[i] * f }), true
}

// --- LinearLR ---

type linearRule struct{ LinearLR }

func (s LinearLR) build(g *groups) (node, error) { return newLeaf(s.kind(), &linearRule{s}, g) }

func (r *linearRule) getLR(l *leaf, g *groups) ([]float64, error) {
	e := l.lastEpoch
	if e == 0 {
		return mapLR(len(g.lr), func(i int) float64 { return g.lr[i] * r.StartFactor }), nil
	}
	if e > r.TotalIters {
		return slices.Clone(g.lr), nil
	}
	d := r.EndFactor - r.StartFactor
	// The conversions keep Go from fusing the products into the sum (arm64,
	// GOAMD64=v3): Python rounds each one.
	f := 1. + d/(float64(float64(r.TotalIters)*r.StartFactor)+float64(float64(e-1)*d))
	return mapLR(len(g.lr), func(i int) float64 { return g.lr[i] * f }), nil
}

func (r *linearRule) closedLR(l *leaf, g *groups) ([]float64, bool) {
	f := r.StartFactor + (r.EndFactor-r.StartFactor)*float64(min(r.TotalIters, l.lastEpoch))/float64(r.TotalIters)
	return mapLR(len(g.lr), func(i int) float64 { return l.baseLRs[i] * f }), true
}

// --- ExponentialLR ---

type exponentialRule struct{ ExponentialLR }

func (s ExponentialLR) build(g *groups) (node, error) {
	return newLeaf(s.kind(), &exponentialRule{s}, g)
}

func (r *exponentialRule) getLR(l *leaf, g *groups) ([]float64, error) {
	if l.lastEpoch == 0 {
		return slices.Clone(g.lr), nil
	}
	return mapLR(len(g.lr), func(i int) float64 { return g.lr[i] * r.Gamma }), nil
}

func (r *exponentialRule) closedLR(l *leaf, g *groups) ([]float64, bool) {
	k := pow(r.Gamma, float64(l.lastEpoch))
	return mapLR(len(g.lr), func(i int) float64 { return l.baseLRs[i] * k }), true
}

// --- PolynomialLR ---

type polynomialRule struct{ PolynomialLR }

func (s PolynomialLR) build(g *groups) (node, error) {
	return newLeaf(s.kind(), &polynomialRule{s}, g)
}

func (r *polynomialRule) getLR(l *leaf, g *groups) ([]float64, error) {
	e, t := l.lastEpoch, float64(r.TotalIters)
	if e == 0 || e > r.TotalIters {
		return slices.Clone(g.lr), nil
	}
	f := pow((1.0-float64(e)/t)/(1.0-float64(e-1)/t), r.Power)
	return mapLR(len(g.lr), func(i int) float64 { return g.lr[i] * f }), nil
}

func (r *polynomialRule) closedLR(l *leaf, g *groups) ([]float64, bool) {
	f := pow(1.0-float64(min(r.TotalIters, l.lastEpoch))/float64(r.TotalIters), r.Power)
	return mapLR(len(g.lr), func(i int) float64 { return l.baseLRs[i] * f }), true
}

// --- CosineAnnealingLR ---

type cosineRule struct{ CosineAnnealingLR }

func (s CosineAnnealingLR) build(g *groups) (node, error) {
	return newLeaf(s.kind(), &cosineRule{s}, g)
}

func (r *cosineRule) getLR(l *leaf, g *groups) ([]float64, error) {
	e, t, eta := l.lastEpoch, float64(r.TMax), r.EtaMin
	g.addFloor(eta)
	switch {
	case e == 0:
		return slices.Clone(g.lr), nil
	case l.stepCount == 1 && e > 0:
		c := 1 + detmath.Cos(float64(e)*math.Pi/t)
		return mapLR(len(g.lr), func(i int) float64 { return eta + (l.baseLRs[i]-eta)*c/2 }), nil
	case (e-1-r.TMax)%(2*r.TMax) == 0:
		c := 1 - detmath.Cos(math.Pi/t)
		return mapLR(len(g.lr), func(i int) float64 { return g.lr[i] + (l.baseLRs[i]-eta)*c/2 }), nil
	}
	q := (1 + detmath.Cos(math.Pi*float64(e)/t)) / (1 + detmath.Cos(math.Pi*float64(e-1)/t))
	return mapLR(len(g.lr), func(i int) float64 { return float64(q*(g.lr[i]-eta)) + eta }), nil
}

func (r *cosineRule) closedLR(l *leaf, g *groups) ([]float64, bool) {
	g.addFloor(r.EtaMin)
	c := 1 + detmath.Cos(math.Pi*float64(l.lastEpoch)/float64(r.TMax))
	return mapLR(len(g.lr), func(i int) float64 { return r.EtaMin + (l.baseLRs[i]-r.EtaMin)*c/2 }), true
}

// --- CosineAnnealingWarmRestarts ---

type warmRestarts struct {
	CosineAnnealingWarmRestarts
	tI, tCur int // torch's T_i and T_cur
}

func (s CosineAnnealingWarmRestarts) build(g *groups) (node, error) {
	return newLeaf(s.kind(), &warmRestarts{CosineAnnealingWarmRestarts: s, tI: s.T0, tCur: -1}, g)
}

// step is torch's CosineAnnealingWarmRestarts.step, which replaces the base
// class's; atZero is its epoch=0 path (the initial step and SequentialLR's
// step(0)).
func (r *warmRestarts) step(l *leaf, g *groups, atZero bool) error {
	if atZero {
		r.tI, r.tCur, l.lastEpoch = r.T0, 0, 0
	} else {
		tCur, tI := r.tCur+1, r.tI
		if tCur >= tI {
			if tI > math.MaxInt/r.TMult {
				return stepErr(l.kind, -1, "period %d * TMult %d overflows", tI, r.TMult)
			}
			tCur, tI = tCur-tI, tI*r.TMult
		}
		r.tCur, r.tI = tCur, tI
		l.lastEpoch++
	}
	lrs, _ := r.getLR(l, g)
	copy(g.lr, lrs)
	return nil
}

func (r *warmRestarts) getLR(l *leaf, g *groups) ([]float64, error) {
	g.addFloor(r.EtaMin)
	c := 1 + detmath.Cos(math.Pi*float64(r.tCur)/float64(r.tI))
	return mapLR(len(g.lr), func(i int) float64 { return r.EtaMin + (l.baseLRs[i]-r.EtaMin)*c/2 }), nil
}

func (r *warmRestarts) closedLR(*leaf, *groups) ([]float64, bool) { return nil, false }

// --- CyclicLR ---

type cyclicRule struct {
	s                    CyclicLR
	maxLRs               []float64
	totalSize, stepRatio float64
	baseMoms, maxMoms    []float64
	cycleMode            bool // the scale function takes the cycle number, else the iteration
	scale                func(x float64) (float64, error)
}

func (s CyclicLR) build(g *groups) (node, error) {
	n := len(g.lr)
	r := &cyclicRule{s: s, maxLRs: expand(s.MaxLR, n)}
	up, down := float64(s.StepSizeUp), float64(s.StepSizeUp)
	if s.StepSizeDown != 0 {
		down = float64(s.StepSizeDown)
	}
	r.totalSize = up + down
	r.stepRatio = up / r.totalSize
	switch {
	case s.ScaleFn != nil:
		r.cycleMode = s.ScaleMode == "cycle"
		r.scale = func(x float64) (float64, error) { return s.ScaleFn(x), nil }
	case s.Mode == "triangular":
		r.cycleMode = true
		r.scale = func(float64) (float64, error) { return 1, nil }
	case s.Mode == "triangular2":
		r.cycleMode = true
		r.scale = func(x float64) (float64, error) {
			// 1 / 2.**(x-1): a power of two, exact in C's pow and in Ldexp,
			// which Python refuses past the largest double.
			p := math.Ldexp(1, int(x-1))
			if math.IsInf(p, 0) {
				return 0, stepErr(s.kind(), -1, "triangular2: 2**%v overflows (torch raises OverflowError)", x-1)
			}
			return 1 / p, nil
		}
	default: // exp_range
		r.scale = func(x float64) (float64, error) { return pow(s.Gamma, x), nil }
	}
	copy(g.lr, expand(s.BaseLR, n))
	if s.CycleMomentum {
		copy(g.mom, expand(s.BaseMomentum, n))
		r.baseMoms = slices.Clone(g.mom)
		r.maxMoms = expand(s.MaxMomentum, n)
	}
	l, err := newLeaf(s.kind(), r, g)
	if err != nil {
		return nil, err
	}
	// Torch sets base_lrs after the initial step, which used initial_lr.
	l.baseLRs = expand(s.BaseLR, n)
	return l, nil
}

func (r *cyclicRule) getLR(l *leaf, g *groups) ([]float64, error) {
	e := float64(l.lastEpoch)
	cycle := math.Floor(1 + e/r.totalSize)
	x := 1. + e/r.totalSize - cycle
	var f float64
	if x <= r.stepRatio {
		f = x / r.stepRatio
	} else {
		f = (x - 1) / (r.stepRatio - 1)
	}
	arg := e
	if r.cycleMode {
		arg = cycle
	}
	sc, err := r.scale(arg)
	if err != nil {
		return nil, err
	}
	lrs := mapLR(len(g.lr), func(i int) float64 {
		h := (r.maxLRs[i] - l.baseLRs[i]) * f
		return l.baseLRs[i] + float64(h*sc)
	})
	if r.s.CycleMomentum {
		for i := range g.mom {
			h := (r.maxMoms[i] - r.baseMoms[i]) * f
			g.mom[i] = r.maxMoms[i] - float64(h*sc)
		}
	}
	return lrs, nil
}

func (r *cyclicRule) closedLR(*leaf, *groups) ([]float64, bool) { return nil, false }

// --- OneCycleLR ---

// Where a phase's start and end values come from: torch's group keys.
const (
	keyInitialLR = iota
	keyMaxLR
	keyMinLR
	keyMaxMomentum
	keyBaseMomentum
)

type phase struct {
	end              float64
	startLR, endLR   int
	startMom, endMom int
}

type oneCycleRule struct {
	s                 OneCycleLR
	phases            []phase
	maxLRs, minLRs    []float64 // torch's group['max_lr'], group['min_lr']
	maxMoms, baseMoms []float64 // torch's group['max_momentum'], group['base_momentum']

	cosPct, cosOut float64 // the last cos(pi*pct)+1, a cache
	cosSet         bool
}

// phases are torch's _schedule_phases.
func (s OneCycleLR) phases() []phase {
	total := float64(s.TotalSteps)
	// float(pct_start * total_steps) - 1: the conversions keep Go from fusing.
	if s.ThreePhase {
		return []phase{
			{float64(s.PctStart*total) - 1, keyInitialLR, keyMaxLR, keyMaxMomentum, keyBaseMomentum},
			{float64(2*s.PctStart*total) - 2, keyMaxLR, keyInitialLR, keyBaseMomentum, keyMaxMomentum},
			{total - 1, keyInitialLR, keyMinLR, keyMaxMomentum, keyMaxMomentum},
		}
	}
	return []phase{
		{float64(s.PctStart*total) - 1, keyInitialLR, keyMaxLR, keyMaxMomentum, keyBaseMomentum},
		{total - 1, keyMaxLR, keyMinLR, keyBaseMomentum, keyMaxMomentum},
	}
}

func (s OneCycleLR) build(g *groups) (node, error) {
	n := len(g.lr)
	r := &oneCycleRule{s: s, maxLRs: expand(s.MaxLR, n), phases: s.phases()}
	g.initialLR = make([]float64, n)
	r.minLRs = make([]float64, n)
	for i := range n {
		g.initialLR[i] = r.maxLRs[i] / s.DivFactor
		r.minLRs[i] = g.initialLR[i] / s.FinalDivFactor
	}
	if s.CycleMomentum {
		r.maxMoms, r.baseMoms = expand(s.MaxMomentum, n), expand(s.BaseMomentum, n)
		copy(g.mom, r.maxMoms)
	}
	return newLeaf(s.kind(), r, g)
}

func (r *oneCycleRule) value(key, i int, g *groups) float64 {
	switch key {
	case keyInitialLR:
		return g.initialLR[i]
	case keyMaxLR:
		return r.maxLRs[i]
	case keyMinLR:
		return r.minLRs[i]
	case keyMaxMomentum:
		return r.maxMoms[i]
	}
	return r.baseMoms[i]
}

func (r *oneCycleRule) anneal(start, end, pct float64) float64 {
	if r.s.AnnealStrategy == "cos" {
		// Every group and the momentum anneal at the same pct in a step:
		// one cos serves them all (a NaN pct never matches, and recomputes).
		if pct != r.cosPct || !r.cosSet {
			r.cosPct, r.cosOut, r.cosSet = pct, detmath.Cos(math.Pi*pct)+1, true
		}
		return end + float64((start-end)/2.0*r.cosOut)
	}
	return float64((end-start)*pct) + start
}

func (r *oneCycleRule) getLR(l *leaf, g *groups) ([]float64, error) {
	step := l.lastEpoch
	if step > r.s.TotalSteps {
		// torch's message counts its initial step too: "Tried to step
		// TotalSteps+2 times".
		return nil, stepErr(l.kind, -1, "past TotalSteps %d: torch allows TotalSteps steps after New, the last of which "+
			"extrapolates the schedule one step past its end, and raises at the next", r.s.TotalSteps)
	}
	lrs := make([]float64, len(g.lr))
	for i := range lrs {
		start := 0.0
		for p, ph := range r.phases {
			if float64(step) <= ph.end || p == len(r.phases)-1 {
				pct := (float64(step) - start) / (ph.end - start)
				lrs[i] = r.anneal(r.value(ph.startLR, i, g), r.value(ph.endLR, i, g), pct)
				if r.s.CycleMomentum {
					g.mom[i] = r.anneal(r.value(ph.startMom, i, g), r.value(ph.endMom, i, g), pct)
				}
				break
			}
			start = ph.end
		}
	}
	return lrs, nil
}

func (r *oneCycleRule) closedLR(*leaf, *groups) ([]float64, bool) { return nil, false }

// --- SWALR ---

// swaRule is torch.optim.swa_utils.SWALR. Its get_lr counts torch's
// _step_count, not last_epoch, and has no closed form: SequentialLR's
// step(0) uses get_lr too.
type swaRule struct {
	swaLRs []float64
	epochs int
	cos    bool
}

func (s SWALR) build(g *groups) (node, error) {
	return newLeaf(s.kind(), &swaRule{swaLRs: expand(s.SwaLR, len(g.lr)), epochs: s.AnnealEpochs, cos: s.AnnealStrategy == "cos"}, g)
}

// anneal is torch's anneal_func: the weight of swa_lr at progress t.
func (r *swaRule) anneal(t float64) float64 {
	if r.cos {
		return (1 - detmath.Cos(math.Pi*t)) / 2
	}
	return t
}

// unitClamp is Python's max(0, min(1, x)).
func unitClamp(x float64) float64 {
	y := 1.0
	if x < 1 {
		y = x
	}
	if y > 0 {
		return y
	}
	return 0
}

func (r *swaRule) getLR(l *leaf, g *groups) ([]float64, error) {
	step := l.stepCount - 1
	if r.epochs == 0 {
		step = max(1, step)
	}
	d := float64(max(1, r.epochs))
	prevAlpha := r.anneal(unitClamp(float64(step-1) / d))
	alpha := r.anneal(unitClamp(float64(step) / d))
	return mapLR(len(g.lr), func(i int) float64 {
		swa := r.swaLRs[i]
		// torch's _get_initial_lr: the rate the annealing started from,
		// recovered from the group's current one.
		prev := swa
		if prevAlpha != 1 {
			prev = (g.lr[i] - float64(prevAlpha*swa)) / (1 - prevAlpha)
		}
		return float64(swa*alpha) + float64(prev*(1-alpha))
	}), nil
}

func (r *swaRule) closedLR(*leaf, *groups) ([]float64, bool) { return nil, false }
