package findings

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	colFinding = color.RGBA{R: 0x4c, G: 0x78, B: 0xa8, A: 0xff} // blue
	colMacro   = color.RGBA{R: 0x1f, G: 0x3b, B: 0x5c, A: 0xff} // dark blue
	colPaper   = color.RGBA{R: 0xe4, G: 0x82, B: 0x1c, A: 0xff} // orange
	colGrid    = color.Gray{Y: 0xdd}
	colWarning = color.RGBA{R: 0xc0, G: 0x1c, B: 0x1c, A: 0xff} // red
)

// WritePNG draws the per-finding F1 with its 95% interval, the macro
// average and, when paper is not nil, the paper's average beside it, as a
// PNG of about 1350×750 pixels.
func (e *Evaluation) WritePNG(w io.Writer, setName string, paper *Headline) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("F1 per finding (%s, %d reports): definite labels only, 95%% bootstrap CI", setName, e.Reports)
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.Title.Padding = vg.Points(8)
	if e.Warning != "" {
		p.Title.Text = e.Warning + "\n" + p.Title.Text
		p.Title.TextStyle.Color = colWarning
	}
	p.Y.Label.Text = "F1"
	p.Y.Min, p.Y.Max = 0, 1.22
	p.Y.Tick.Marker = plot.ConstantTicks(ticks01())
	p.X.Tick.Label.Font.Size = vg.Points(10)

	k := len(e.Findings)
	names := make([]string, 0, k+2)
	vals := make(plotter.Values, k)
	for i, s := range e.Findings {
		names = append(names, s.Observation.String())
		vals[i] = zeroNaN(s.F1)
	}
	names = append(names, "Average\n(this run)")
	if paper != nil {
		names = append(names, "Average\n(paper)")
	}
	rotate := len(names) > 9
	if !rotate {
		for i := range k {
			names[i] = strings.Replace(names[i], " ", "\n", 1)
		}
	} else {
		for i := range names {
			names[i] = strings.ReplaceAll(names[i], "\n", " ")
		}
		p.X.Tick.Label.Rotation = math.Pi / 6
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
	p.NominalX(names...)

	grid := plotter.NewGrid()
	grid.Vertical.Width = 0
	grid.Horizontal.Color = colGrid
	p.Add(grid)

	width := vg.Points(34)
	if rotate {
		width = vg.Points(22)
	}
	bars, err := plotter.NewBarChart(vals, width)
	if err != nil {
		return fmt.Errorf("draw bars: %w", err)
	}
	bars.Color = colFinding
	bars.LineStyle.Width = 0
	macroBar, err := plotter.NewBarChart(plotter.Values{zeroNaN(e.MacroF1)}, width)
	if err != nil {
		return fmt.Errorf("draw bars: %w", err)
	}
	macroBar.XMin = float64(k)
	macroBar.Color = colMacro
	macroBar.LineStyle.Width = 0
	p.Add(bars, macroBar)
	p.Legend.Add("F1, this run (whiskers: 95% CI)", bars)
	p.Legend.Add("macro average, this run", macroBar)

	// Intervals and value labels.
	var errs ciBars
	var labels plotter.XYLabels
	addPoint := func(x, v float64, ci Interval) {
		top := 0.0
		if math.IsNaN(v) {
			labels.XYs = append(labels.XYs, plotter.XY{X: x, Y: 0.02})
			labels.Labels = append(labels.Labels, "n/a")
			return
		}
		top = v
		if !math.IsNaN(ci.Lo) {
			errs = append(errs, ciBar{x: x, y: v, lo: ci.Lo, hi: ci.Hi})
			top = math.Max(top, ci.Hi)
		}
		labels.XYs = append(labels.XYs, plotter.XY{X: x, Y: top + 0.02})
		labels.Labels = append(labels.Labels, fmtMetric(v))
	}
	for i, s := range e.Findings {
		addPoint(float64(i), s.F1, s.F1CI)
	}
	addPoint(float64(k), e.MacroF1, e.MacroF1CI)
	if paper != nil {
		pb, err := plotter.NewBarChart(plotter.Values{paper.F1}, width)
		if err != nil {
			return fmt.Errorf("draw bars: %w", err)
		}
		pb.XMin = float64(k + 1)
		pb.Color = colPaper
		pb.LineStyle.Width = 0
		p.Add(pb)
		p.Legend.Add("paper's average F1 (no CI given here)", pb)
		// The dashed line runs over the finding bars only, so that it
		// does not cross the average's value label.
		line, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: paper.F1}, {X: float64(k) - 0.5, Y: paper.F1}})
		if err != nil {
			return fmt.Errorf("draw line: %w", err)
		}
		line.Color = colPaper
		line.Width = vg.Points(1)
		line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(line)
		labels.XYs = append(labels.XYs, plotter.XY{X: float64(k + 1), Y: paper.F1 + 0.02})
		labels.Labels = append(labels.Labels, fmtMetric(paper.F1))
	}
	if len(errs) > 0 {
		eb, err := plotter.NewYErrorBars(errs)
		if err != nil {
			return fmt.Errorf("draw intervals: %w", err)
		}
		eb.LineStyle.Width = vg.Points(1.2)
		eb.CapWidth = vg.Points(8)
		p.Add(eb)
	}
	lb, err := plotter.NewLabels(labels)
	if err != nil {
		return fmt.Errorf("draw labels: %w", err)
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].XAlign = draw.XCenter
		lb.TextStyle[i].YAlign = draw.YBottom
		lb.TextStyle[i].Font.Size = vg.Points(9)
	}
	p.Add(lb)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Legend.Padding = vg.Points(2)
	p.Legend.YOffs = -vg.Points(2)
	p.Legend.XOffs = vg.Points(6)

	c := vgimg.NewWith(vgimg.UseWH(9*vg.Inch, 5*vg.Inch), vgimg.UseDPI(150))
	p.Draw(draw.New(c))
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(w); err != nil {
		return fmt.Errorf("write PNG: %w", err)
	}
	return nil
}

func ticks01() []plot.Tick {
	var t []plot.Tick
	for i := 0; i <= 10; i++ {
		v := float64(i) / 10
		label := ""
		if i%2 == 0 {
			label = fmt.Sprintf("%.1f", v)
		}
		t = append(t, plot.Tick{Value: v, Label: label})
	}
	return t
}

func zeroNaN(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}

// ciBars feeds plotter.YErrorBars with asymmetric intervals.
type ciBars []ciBar

type ciBar struct{ x, y, lo, hi float64 }

func (c ciBars) Len() int                    { return len(c) }
func (c ciBars) XY(i int) (float64, float64) { return c[i].x, c[i].y }
func (c ciBars) YError(i int) (float64, float64) {
	return c[i].y - c[i].lo, c[i].hi - c[i].y
}
