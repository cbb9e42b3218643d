package main

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The figures use gonum.org/v1/plot: the module already depends on gonum,
// plot is pure Go (no cgo, no system fonts: it embeds the Liberation
// fonts), writes PNG and SVG from the same drawing code, and has the
// contour lines, log axes, bar charts and panel alignment these figures
// need. Only this command imports it.

// dpi is the resolution of the PNG files; the SVG files have the same size
// in CSS pixels (1 px = 0.75 pt).
const dpi = 96

// figure is one picture: panels in a grid under a title, written as
// name.png and name.svg.
type figure struct {
	name          string // file name without extension
	title         string
	width, height int // in pixels
	cols          int // panels per row
	panels        []*plot.Plot
}

// size returns the figure's size as a vg length.
func (f *figure) size() (w, h vg.Length) {
	return vg.Length(f.width) * vg.Inch / dpi, vg.Length(f.height) * vg.Inch / dpi
}

// draw renders the title and the panels onto c.
func (f *figure) draw(c vg.CanvasSizer) {
	dc := draw.New(c)
	top := vg.Length(0)
	if f.title != "" {
		sty := text.Style{Color: color.Black, Font: font.From(plot.DefaultFont, 15), XAlign: draw.XCenter, YAlign: draw.YTop,
			Handler: plot.DefaultTextHandler}
		dc.FillText(sty, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: dc.Max.Y - 6}, f.title)
		top = sty.Height(f.title) + 12
	}
	rows := (len(f.panels) + f.cols - 1) / f.cols
	grid := make([][]*plot.Plot, rows)
	for i, p := range f.panels {
		grid[i/f.cols] = append(grid[i/f.cols], p)
	}
	for len(grid[rows-1]) < f.cols {
		// plot.Align wants a full grid: pad the last row with empty,
		// hidden panels.
		e := plot.New()
		e.HideAxes()
		grid[rows-1] = append(grid[rows-1], e)
	}
	tiles := draw.Tiles{Rows: rows, Cols: f.cols, PadTop: top + 4, PadBottom: 6, PadLeft: 6, PadRight: 14, PadX: 22, PadY: 18}
	cs := plot.Align(grid, tiles, dc)
	for r := range grid {
		for col, p := range grid[r] {
			p.Draw(cs[r][col])
		}
	}
}

// write saves the figure as dir/name.png and dir/name.svg and returns the
// two paths.
func (f *figure) write(dir string) ([]string, error) {
	w, h := f.size()
	png := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))
	f.draw(png)
	svg := vgsvg.New(w, h)
	f.draw(svg)
	var paths []string
	for _, out := range []struct {
		ext string
		w   io.WriterTo
	}{{".png", vgimg.PngCanvas{Canvas: png}}, {".svg", svg}} {
		path := filepath.Join(dir, f.name+out.ext)
		if err := writeFile(path, out.w); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

func writeFile(path string, w io.WriterTo) error {
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := w.WriteTo(file); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}

// methodColors tells the methods apart in every figure: the Okabe-Ito
// palette, which stays distinguishable for colour-blind readers, without
// its yellow, which is unreadable on white.
var methodColors = map[string]color.Color{
	"SGD":      color.RGBA{0x00, 0x00, 0x00, 0xff},
	"Momentum": color.RGBA{0xe6, 0x9f, 0x00, 0xff},
	"Nesterov": color.RGBA{0x56, 0xb4, 0xe9, 0xff},
	"AdaGrad":  color.RGBA{0x00, 0x9e, 0x73, 0xff},
	"RMSProp":  color.RGBA{0xcc, 0x79, 0xa7, 0xff},
	"Adam":     color.RGBA{0xd5, 0x5e, 0x00, 0xff},
	"Newton":   color.RGBA{0x00, 0x72, 0xb2, 0xff},
	// Beyond Okabe-Ito's seven: grey and Paul Tol's wine.
	"L-BFGS":       color.RGBA{0x88, 0x88, 0x88, 0xff},
	"L-BFGS Wolfe": color.RGBA{0x88, 0x22, 0x55, 0xff},
}

// palette is for series that are not methods (batch sizes, kernel sets,
// schedules, runs), in the same order of colours.
var palette = []color.Color{
	methodColors["Newton"], methodColors["Adam"], methodColors["AdaGrad"], methodColors["Momentum"],
	methodColors["RMSProp"], methodColors["Nesterov"], methodColors["SGD"],
}

// newPanel returns a plot with a title and axis labels, a legend in the
// top right corner and a light grid.
func newPanel(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 13
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = 11
	p.Legend.Padding = 2
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{0xe4}
	grid.Horizontal.Color = color.Gray{0xe4}
	p.Add(grid)
	return p
}

// logY and logX switch an axis to a log scale with labelled powers of ten.
func logY(p *plot.Plot) { p.Y.Scale = plot.LogScale{}; p.Y.Tick.Marker = powerTicks{} }
func logX(p *plot.Plot) { p.X.Scale = plot.LogScale{}; p.X.Tick.Marker = powerTicks{} }

// powerTicks marks the powers of ten of a log axis, labelled 1e-6, 0.01, 1,
// 100, 1e4: short labels of the exact powers, where plot.LogTicks writes
// 9.999999999999998e-05 for math.Pow(10, -5). Over more than eight decades
// only every second or third power is labelled.
type powerTicks struct{}

func (powerTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || math.IsInf(hi, 0) {
		return nil
	}
	k0, k1 := int(math.Floor(math.Log10(lo))), int(math.Ceil(math.Log10(hi)))
	every := 1 + (k1-k0)/9
	var ticks []plot.Tick
	for k := k0; k <= k1; k++ {
		v, _ := strconv.ParseFloat(fmt.Sprintf("1e%d", k), 64)
		t := plot.Tick{Value: v}
		if k%every == 0 {
			t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			if k < -3 || k > 4 {
				t.Label = fmt.Sprintf("1e%d", k)
			}
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// stepTicks labels every multiple of step: the same ticks in each panel
// of a row, whatever the default marker would pick for its width.
type stepTicks float64

func (s stepTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(s > 0) || (hi-lo)/float64(s) > 50 {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	var ticks []plot.Tick
	for k := math.Ceil(lo / float64(s)); k*float64(s) <= hi+1e-9; k++ {
		v := k*float64(s) + 0 // + 0 turns -0 into 0
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', 3, 64)})
	}
	return ticks
}

// addLine draws xy as a line in colour c and adds it to the legend under
// name (no legend entry when name is empty).
func addLine(p *plot.Plot, name string, xy plotter.XYs, c color.Color, width vg.Length, dashed bool) error {
	if len(xy) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xy)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	l.Color = c
	l.Width = width
	if dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	p.Add(l)
	if name != "" {
		p.Legend.Add(name, l)
	}
	return nil
}

// addPoints marks every point of xy with a small dot of colour c.
func addPoints(p *plot.Plot, xy plotter.XYs, c color.Color, radius vg.Length) error {
	if len(xy) == 0 {
		return nil
	}
	s, err := plotter.NewScatter(xy)
	if err != nil {
		return err
	}
	s.GlyphStyle.Color = c
	s.GlyphStyle.Radius = radius
	s.GlyphStyle.Shape = draw.CircleGlyph{}
	p.Add(s)
	return nil
}
