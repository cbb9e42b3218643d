package main

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// comparisonFigure draws one training comparison: the training loss
// (solid) and the held-out loss (dashed) per epoch, and the held-out
// accuracy, the metric to monitor.
func comparisonFigure(num int, c comparison) (*figure, error) {
	f := &figure{name: c.figure, width: 1400, height: 600, cols: 2,
		title: fmt.Sprintf("Figure %d. Training run: %s", num, c.what)}
	loss := newPanel("loss: training (solid), held out (dashed)", "epoch", "cross-entropy")
	loss.Y.Min = 0
	loss.Legend.Top, loss.Legend.Left = false, true
	acc := newPanel("held-out accuracy", "epoch", "accuracy (%)")
	acc.Legend.Top, acc.Legend.Left = false, false
	for i, r := range c.runs {
		var tr, te, ac plotter.XYs
		for e, rec := range r.epochs {
			x := float64(e + 1)
			tr = append(tr, plotter.XY{X: x, Y: rec.trainLoss})
			te = append(te, plotter.XY{X: x, Y: rec.testLoss})
			ac = append(ac, plotter.XY{X: x, Y: 100 * rec.testAcc})
		}
		col := palette[i]
		if err := addLine(loss, r.name, tr, col, vg.Points(1.8), false); err != nil {
			return nil, err
		}
		if err := addLine(loss, "", te, col, vg.Points(1.8), true); err != nil {
			return nil, err
		}
		if err := addLine(acc, r.name, ac, col, vg.Points(1.8), false); err != nil {
			return nil, err
		}
		if err := addPoints(acc, ac, col, vg.Points(2.5)); err != nil {
			return nil, err
		}
	}
	for _, p := range []*plot.Plot{loss, acc} {
		p.X.Min = 1
		p.X.Tick.Marker = stepTicks(max(1, float64(len(c.runs[0].epochs)/12)))
	}
	f.panels = []*plot.Plot{loss, acc}
	return f, nil
}
