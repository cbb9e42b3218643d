package main

import (
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// contourLines draws the level lines of a lossGrid. It replaces
// plotter.Contour, whose path building walks Go maps (so the order of the
// paths, and the bytes of an SVG, change from run to run) and panics on
// some grids ("not a linear path"). Here marching squares finds each
// level's crossing on every grid edge, and the segments are chained into
// polylines in grid order: the same grid gives the same paths every time.
type contourLines struct {
	grid   *lossGrid
	levels []float64
	color  color.Color
	width  vg.Length
}

// Plot implements plot.Plotter.
func (cl *contourLines) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	c.SetLineStyle(draw.LineStyle{Color: cl.color, Width: cl.width})
	for _, level := range cl.levels {
		for _, line := range cl.grid.levelLines(level) {
			var p vg.Path
			for i, pt := range line {
				v := vg.Point{X: trX(pt[0]), Y: trY(pt[1])}
				if i == 0 {
					p.Move(v)
				} else {
					p.Line(v)
				}
			}
			c.Stroke(p)
		}
	}
}

// DataRange implements plot.DataRanger: the grid's window.
func (cl *contourLines) DataRange() (xmin, xmax, ymin, ymax float64) {
	g := cl.grid
	return g.x[0], g.x[len(g.x)-1], g.y[0], g.y[len(g.y)-1]
}

// levelLines returns the polylines where the loss crosses level.
func (g *lossGrid) levelLines(level float64) [][][2]float64 {
	nx, ny := len(g.x), len(g.y)
	above := func(c, r int) bool { return g.z[r*nx+c] > level }
	// An edge is named by the grid point it starts at and its direction:
	// 2*(r*nx+c) runs to (c+1, r), 2*(r*nx+c)+1 to (c, r+1).
	hEdge := func(c, r int) int { return 2 * (r*nx + c) }
	vEdge := func(c, r int) int { return 2*(r*nx+c) + 1 }
	var segs [][2]int
	for r := range ny - 1 {
		for c := range nx - 1 {
			// The cell's sides, counterclockwise from the bottom, and
			// whether the level crosses each.
			sides := [4]int{hEdge(c, r), vEdge(c+1, r), hEdge(c, r+1), vEdge(c, r)}
			corner := [4]bool{above(c, r), above(c+1, r), above(c+1, r+1), above(c, r+1)}
			var crossed []int
			for i := range 4 {
				if corner[i] != corner[(i+1)%4] {
					crossed = append(crossed, sides[i])
				}
			}
			switch len(crossed) {
			case 2:
				segs = append(segs, [2]int{crossed[0], crossed[1]})
			case 4:
				// A saddle cell: the centre's side decides which
				// corners the lines cut off.
				centre := (g.z[r*nx+c]+g.z[r*nx+c+1]+g.z[(r+1)*nx+c]+g.z[(r+1)*nx+c+1])/4 > level
				if centre == corner[0] {
					segs = append(segs, [2]int{crossed[0], crossed[1]}, [2]int{crossed[2], crossed[3]})
				} else {
					segs = append(segs, [2]int{crossed[3], crossed[0]}, [2]int{crossed[1], crossed[2]})
				}
			}
		}
	}
	// Chain the segments through their shared edges.
	at := make(map[int][]int, 2*len(segs))
	for i, s := range segs {
		at[s[0]] = append(at[s[0]], i)
		at[s[1]] = append(at[s[1]], i)
	}
	used := make([]bool, len(segs))
	next := func(edge int) (int, bool) {
		for _, i := range at[edge] {
			if !used[i] {
				used[i] = true
				if segs[i][0] == edge {
					return segs[i][1], true
				}
				return segs[i][0], true
			}
		}
		return 0, false
	}
	var lines [][][2]float64
	for i, s := range segs {
		if used[i] {
			continue
		}
		used[i] = true
		fwd := []int{s[0], s[1]}
		for e, ok := next(s[1]); ok; e, ok = next(e) {
			fwd = append(fwd, e)
		}
		var back []int
		for e, ok := next(s[0]); ok; e, ok = next(e) {
			back = append(back, e)
		}
		line := make([][2]float64, 0, len(back)+len(fwd))
		for k := len(back) - 1; k >= 0; k-- {
			line = append(line, g.crossing(back[k], level))
		}
		for _, e := range fwd {
			line = append(line, g.crossing(e, level))
		}
		lines = append(lines, line)
	}
	return lines
}

// crossing returns where the loss equals level on an edge, by linear
// interpolation between its two grid points.
func (g *lossGrid) crossing(edge int, level float64) [2]float64 {
	nx := len(g.x)
	i := edge / 2
	c, r := i%nx, i/nx
	c2, r2 := c+1, r
	if edge%2 == 1 {
		c2, r2 = c, r+1
	}
	z0, z1 := g.z[r*nx+c], g.z[r2*nx+c2]
	t := 0.5
	if z1 != z0 {
		t = math.Min(1, math.Max(0, (level-z0)/(z1-z0)))
	}
	return [2]float64{g.x[c] + t*(g.x[c2]-g.x[c]), g.y[r] + t*(g.y[r2]-g.y[r])}
}
