package main

import (
	"fmt"
	"image/color"
	"math"
	"runtime"
	"time"

	"github.com/klauspost/cpuid/v2"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/simdoptim/optim"
)

// throughputFigure is figure 7, the one figure that changes from run to
// run: ns per parameter of every rule with every kernel set this CPU
// supports, on one worker and on GOMAXPROCS workers, each timed for about
// perRun on n float32 parameters.
func throughputFigure(n int, perRun time.Duration) (*figure, error) {
	all := runtime.GOMAXPROCS(0)
	sets := optim.SupportedSets()
	// One panel per row: thirteen rules of three bars each need the width.
	f := &figure{name: "7-throughput", width: 1500, height: 1100, cols: 1,
		title: fmt.Sprintf("Figure 7. Throughput: one update of %d float32 parameters (%s, %s/%s); lower is faster",
			n, cpuName(), runtime.GOOS, runtime.GOARCH)}
	p := make([]float32, n)
	g := make([]float32, n)
	for i := range p {
		p[i] = float32(i%1000) * 1e-3
		g[i] = float32(i%777)*1e-3 - 0.3
	}
	var names []string
	for _, r := range streamRules {
		names = append(names, r.name)
	}
	for _, workers := range []int{1, all} {
		title := "1 worker"
		if workers > 1 {
			title = fmt.Sprintf("%d workers (GOMAXPROCS)", workers)
		}
		pl := newPanel(title, "", "ns per parameter")
		pl.NominalX(names...)
		// The sets' bars of one rule share 70% of the rule's slot of the
		// panel's width (less the axis's margin).
		w, _ := f.size()
		width := (w - vg.Inch) * 0.7 / vg.Length(len(names)*len(sets))
		var top float64
		for si, set := range sets {
			var vals plotter.Values
			for _, r := range streamRules {
				vals = append(vals, timeSet(set, workers, r.rule, p, g, perRun).nsPerParam)
				top = max(top, vals[len(vals)-1])
			}
			bars := &logBars{values: vals, width: width, color: palette[si],
				offset: width * vg.Length(float64(si)-float64(len(sets)-1)/2)}
			pl.Add(bars)
			pl.Legend.Add(set.Name(), bars)
		}
		// A log axis: the kernel sets differ by 20x and more. Room above
		// the bars for the legend.
		logY(pl)
		pl.Y.Max = 8 * top
		f.panels = append(f.panels, pl)
	}
	return f, nil
}

// cpuName is the CPU's brand string, for the figure's title.
func cpuName() string {
	if cpuid.CPU.BrandName == "" {
		return "unnamed CPU"
	}
	return cpuid.CPU.BrandName
}

// logBars is a bar chart that a log axis can show: each bar rises from the
// bottom of the axis (plotter.BarChart rises from 0, which a log axis
// cannot place). Bar i stands at x = i, shifted by offset.
type logBars struct {
	values plotter.Values
	width  vg.Length
	offset vg.Length
	color  color.Color
}

// Plot implements plot.Plotter.
func (b *logBars) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	bottom := c.Min.Y
	for i, v := range b.values {
		x := trX(float64(i)) + b.offset
		top := trY(v)
		if !(v > 0) || top < bottom {
			continue
		}
		rect := c.ClipPolygonY([]vg.Point{{X: x - b.width/2, Y: bottom}, {X: x + b.width/2, Y: bottom},
			{X: x + b.width/2, Y: top}, {X: x - b.width/2, Y: top}})
		c.FillPolygon(b.color, rect)
	}
}

// DataRange implements plot.DataRanger.
func (b *logBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	ymin, ymax = math.Inf(1), math.Inf(-1)
	for _, v := range b.values {
		if v > 0 {
			ymin, ymax = min(ymin, v), max(ymax, v)
		}
	}
	return -0.5, float64(len(b.values)) - 0.5, ymin / 2, ymax
}

// Thumbnail implements plot.Thumbnailer, for the legend.
func (b *logBars) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(b.color, []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y},
		{X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}})
}
