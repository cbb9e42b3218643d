package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// drawFigures writes every figure into dir (created if missing) and lists
// the files. Every figure but the throughput chart is a function of the
// configuration alone, so its files have the same bytes on every run.
func drawFigures(w io.Writer, dir string, c config) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(w, "== Figures (PNG and SVG) in %s\n", dir)
	for _, make := range figureList(c) {
		start := time.Now()
		f, err := make()
		if err != nil {
			return err
		}
		paths, err := f.write(dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%-22s %s  (%.1f s)\n", f.name+".{png,svg}", f.title, time.Since(start).Seconds())
		_ = paths
	}
	return nil
}

// figureList returns the figures in order, each as the function that
// computes and lays it out.
func figureList(c config) []func() (*figure, error) {
	return []func() (*figure, error){
		ravineFigure,
		rosenbrockFigure,
		saddleFigure,
		noisyFigure,
		func() (*figure, error) { return convergenceFigure(c) },
		schedulesFigure,
		func() (*figure, error) { return throughputFigure(c.n, c.perRule/4) },
	}
}
