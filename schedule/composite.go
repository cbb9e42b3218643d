package schedule

import (
	"errors"
	"fmt"
	"slices"
)

// sequential is torch's SequentialLR.
type sequential struct {
	lastEpoch  int
	milestones []int
	scheds     []*leaf
}

func (s SequentialLR) build(g *groups) (node, error) {
	q := &sequential{milestones: slices.Clone(s.Milestones)}
	// Torch's user code builds the inner schedulers first, each with its own
	// initial step on the shared groups.
	for _, in := range s.Schedulers {
		n, err := derefSpec(in).build(g)
		if err != nil {
			return nil, err
		}
		q.scheds = append(q.scheds, n.(*leaf)) // validate admits leaves only
	}
	// Then SequentialLR's constructor resets the rates, undoes the inner
	// initial steps and redoes the first one.
	q.lastEpoch = 0
	copy(g.lr, g.initialLR)
	for _, l := range q.scheds {
		l.lastEpoch--
	}
	return q, q.scheds[0].initialStep(g)
}

func (q *sequential) step(g *groups) error {
	q.lastEpoch++
	idx := q.current()
	var err error
	if idx > 0 && q.milestones[idx-1] == q.lastEpoch {
		err = q.scheds[idx].stepZero(g)
	} else {
		err = q.scheds[idx].step(g)
	}
	return nested(err, fmt.Sprintf("SequentialLR.Schedulers[%d].", idx))
}

// current is the index of the scheduler that steps at lastEpoch:
// bisect_right(milestones, last_epoch), the number of milestones <= it.
func (q *sequential) current() int {
	idx, _ := slices.BinarySearch(q.milestones, q.lastEpoch+1)
	return idx
}

func (q *sequential) calls() int { return q.lastEpoch }
func (q *sequential) active() string {
	idx := q.current()
	return fmt.Sprintf("SequentialLR.Schedulers[%d].%s", idx, q.scheds[idx].kind)
}

// nested prefixes the scheduler a StepError names with where it sits.
func nested(err error, prefix string) error {
	if e, ok := err.(*StepError); ok {
		e.Spec = prefix + e.Spec
	}
	return err
}

// chained is torch's ChainedScheduler.
type chained struct{ scheds []node }

func (s ChainedScheduler) build(g *groups) (node, error) {
	c := &chained{}
	for _, in := range s.Schedulers {
		n, err := derefSpec(in).build(g)
		if err != nil {
			return nil, err
		}
		c.scheds = append(c.scheds, n)
	}
	return c, nil
}

func (c *chained) step(g *groups) error {
	for i, n := range c.scheds {
		if err := n.step(g); err != nil {
			return nested(err, fmt.Sprintf("ChainedScheduler.Schedulers[%d].", i))
		}
	}
	return nil
}

func (c *chained) calls() int     { return c.scheds[0].calls() }
func (c *chained) active() string { return "ChainedScheduler" }

// plateau is torch's ReduceLROnPlateau, which is not an _LRScheduler: no
// initial step, no initial_lr.
type plateau struct {
	s                             ReduceLROnPlateau
	minLRs                        []float64
	lastEpoch                     int
	best                          float64
	numBadEpochs, cooldownCounter int
}

func (s ReduceLROnPlateau) build(g *groups) (node, error) {
	p := &plateau{s: s, minLRs: make([]float64, len(g.lr))}
	if s.MinLR != nil {
		p.minLRs = expand(s.MinLR, len(g.lr))
	}
	p.best = p.worse()
	return p, nil
}

// worse is torch's mode_worse, the starting best.
func (p *plateau) worse() float64 {
	if p.s.Mode == "min" {
		return posInf
	}
	return -posInf
}

func (p *plateau) calls() int     { return p.lastEpoch }
func (p *plateau) active() string { return "ReduceLROnPlateau" }

func (p *plateau) step(*groups) error {
	return errors.New("schedule: ReduceLROnPlateau is stepped with StepMetric")
}

func (p *plateau) isBetter(a float64) bool {
	switch {
	case p.s.Mode == "min" && p.s.ThresholdMode == "rel":
		return a < p.best*(1.-p.s.Threshold)
	case p.s.Mode == "min":
		return a < p.best-p.s.Threshold
	case p.s.ThresholdMode == "rel":
		return a > p.best*(p.s.Threshold+1.)
	}
	return a > p.best+p.s.Threshold
}

func (p *plateau) stepMetric(g *groups, metric float64) error {
	p.lastEpoch++
	if p.isBetter(metric) {
		p.best, p.numBadEpochs = metric, 0
	} else {
		p.numBadEpochs++
	}
	if p.cooldownCounter > 0 {
		p.cooldownCounter--
		p.numBadEpochs = 0 // torch ignores bad epochs in cooldown
	}
	if p.numBadEpochs > p.s.Patience {
		for i, old := range g.lr {
			// Python's max(a, b) is b only when b > a.
			nw := float64(old * p.s.Factor) // no fusing into old - nw
			if p.minLRs[i] > nw {
				nw = p.minLRs[i]
			}
			if old-nw > p.s.Eps {
				g.lr[i] = nw
			}
		}
		p.cooldownCounter, p.numBadEpochs = p.s.Cooldown, 0
	}
	return nil
}
