package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// drawFigures writes every figure into dir (created if missing), lists
// the files and returns the figures. Every figure but the throughput chart
// is a function of the configuration alone, so its files have the same
// bytes on every run.
func drawFigures(w io.Writer, dir string, c config, cmps []comparison) ([]*figure, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var figs []*figure
	fmt.Fprintf(w, "== Figures (PNG and SVG) in %s\n", dir)
	for _, make := range figureList(c, cmps) {
		start := time.Now()
		f, err := make()
		if err != nil {
			return figs, err
		}
		if _, err := f.write(dir); err != nil {
			return figs, err
		}
		figs = append(figs, f)
		fmt.Fprintf(w, "%-28s %s (%.1f s)\n", f.name+".{png,svg}", f.title, time.Since(start).Seconds())
	}
	return figs, nil
}

// figureList returns the figures in order, each as the function that
// computes and lays it out: the throughput chart only if c.throughput, the
// training comparisons' figures only if they ran.
func figureList(c config, cmps []comparison) []func() (*figure, error) {
	list := []func() (*figure, error){
		ravineFigure,
		rosenbrockFigure,
		saddleFigure,
		noisyFigure,
		func() (*figure, error) { return convergenceFigure(c) },
		schedulesFigure,
	}
	if c.throughput {
		list = append(list, func() (*figure, error) { return throughputFigure(c.n, c.perRule/4) })
	}
	for i, cmp := range cmps {
		list = append(list, func() (*figure, error) { return comparisonFigure(8+i, cmp) })
	}
	return append(list, roundingFigure)
}
