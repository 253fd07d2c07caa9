package reports

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgpdf"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/ssmbench/ssmbench/bench/results"
)

// Chart metrics.
const (
	ChartLatency = "latency" // decode next-token latency, ms
	ChartMemory  = "memory"  // memory of a decode step, GiB (the seed's method, see PaperMemory)
)

var familyColor = map[string]color.NRGBA{
	"hovle":  {R: 214, G: 39, B: 40, A: 255},
	"hybrid": {R: 44, G: 160, B: 44, A: 255},
	"linear": {R: 31, G: 119, B: 180, A: 255},
}

var profileDash = map[string][]vg.Length{
	"paper":     nil,
	"reference": nil,
	"matched":   {vg.Points(6), vg.Points(3)},
}

// errSeries is an XY series with asymmetric Y errors.
type errSeries struct {
	plotter.XYs
	plotter.YErrors
}

// DecodeChart plots decode latency or memory against context, one line per
// (variant, profile) of the rows, with the 95% confidence interval of each
// median as error bars; with seed set (and full-size variants present) the
// seed paper's Fig. 1 values are drawn dotted for comparison. The x axis is
// linear in tokens, as in the paper's figure.
func DecodeChart(rows []results.CellRow, metric string, seed bool) (*plot.Plot, error) {
	if metric != ChartLatency && metric != ChartMemory {
		return nil, fmt.Errorf("unknown chart metric %q (latency or memory)", metric)
	}
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	p := plot.New()
	p.X.Label.Text = "context (K tokens)"
	if metric == ChartLatency {
		p.Title.Text = "Latency for the next token"
		p.Y.Label.Text = "ms"
	} else {
		p.Title.Text = "GPU memory, allocator peak (the seed's method)"
		p.Y.Label.Text = "GiB"
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.TextStyle.Font.Size = vg.Points(7)
	p.Legend.ThumbnailWidth = vg.Points(18)
	p.X.Tick.Marker = contextTicks{}

	type key struct{ variant, profile string }
	series := map[key]*errSeries{}
	var keys []key
	full := false
	for _, r := range rows {
		if r.Phase != "decode" || r.Status != results.StatusOK || r.Batch != 1 || r.MemoryCapBytes != 0 {
			continue
		}
		var y, lo, hi float64
		switch metric {
		case ChartLatency:
			if r.DecodeMsP50 == nil {
				continue
			}
			y, lo, hi = *r.DecodeMsP50, *r.DecodeMsP50, *r.DecodeMsP50
			if r.DecodeMsCILo != nil && r.DecodeMsCIHi != nil {
				lo, hi = *r.DecodeMsCILo, *r.DecodeMsCIHi
			}
		case ChartMemory:
			b, _, ok := PaperMemory(r)
			if !ok {
				continue
			}
			y = float64(b) / (1 << 30)
			lo, hi = y, y
		}
		k := key{r.Variant, r.Profile}
		if series[k] == nil {
			series[k] = &errSeries{}
			keys = append(keys, k)
		}
		s := series[k]
		s.XYs = append(s.XYs, plotter.XY{X: float64(r.SeqLen) / 1024, Y: y})
		s.YErrors = append(s.YErrors, struct{ Low, High float64 }{y - lo, hi - y})
		if !strings.Contains(r.Variant, "tiny") {
			full = true
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no finished decode cells at batch 1 to plot")
	}
	slices.SortFunc(keys, func(a, b key) int {
		return strings.Compare(Family(a.variant)+a.profile+a.variant, Family(b.variant)+b.profile+b.variant)
	})
	for _, k := range keys {
		s := series[k]
		sortSeries(s)
		c := familyColor[Family(k.variant)]
		if c.A == 0 {
			c = color.NRGBA{A: 255}
		}
		line, pts, err := plotter.NewLinePoints(s)
		if err != nil {
			return nil, err
		}
		line.Color, pts.Color = c, c
		line.Dashes = profileDash[k.profile]
		pts.Shape = draw.CircleGlyph{}
		p.Add(line, pts)
		if metric == ChartLatency {
			eb, err := plotter.NewYErrorBars(s)
			if err != nil {
				return nil, err
			}
			eb.Color = c
			p.Add(eb)
		}
		p.Legend.Add(fmt.Sprintf("%s (%s)", displayName(k.variant), k.profile), line, pts)
	}
	if seed && full {
		for _, fam := range []string{"hovle", "hybrid", "linear"} {
			var xys plotter.XYs
			for _, pt := range Fig1 {
				ms, gib := pt.value(fam)
				v := ms
				if metric == ChartMemory {
					v = gib
				}
				if !math.IsNaN(v) {
					xys = append(xys, plotter.XY{X: float64(pt.SeqLen) / 1024, Y: v})
				}
			}
			line, pts, err := plotter.NewLinePoints(xys)
			if err != nil {
				return nil, err
			}
			c := familyColor[fam]
			c.A = 140
			line.Color, pts.Color = c, c
			line.Dashes = []vg.Length{vg.Points(1.5), vg.Points(2.5)}
			pts.Shape = draw.TriangleGlyph{}
			p.Add(line, pts)
			p.Legend.Add(displayName(fam)+" (seed's Fig. 1, RTX 4090)", line, pts)
		}
	}
	p.Y.Min = 0
	return p, nil
}

// displayName spells a variant as the paper does.
func displayName(variant string) string {
	name := map[string]string{"hovle": "HoVLE", "hybrid": "mmMamba-hybrid", "linear": "mmMamba-linear"}[Family(variant)]
	if name == "" {
		return variant
	}
	if strings.HasSuffix(variant, "-tiny") {
		name += "-tiny"
	}
	return name
}

// contextTicks labels the x axis in K tokens at round positions.
type contextTicks struct{}

// Ticks implements plot.Ticker.
func (contextTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	step := 16.0
	if max-min < 16 {
		step = 1
	}
	for v := math.Ceil(min/step) * step; v <= max; v += step {
		label := ""
		if int(v/step)%2 == 0 || step == 1 {
			label = fmt.Sprintf("%gK", v)
		}
		ts = append(ts, plot.Tick{Value: v, Label: label})
	}
	return ts
}

func sortSeries(s *errSeries) {
	idx := make([]int, len(s.XYs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case s.XYs[a].X < s.XYs[b].X:
			return -1
		case s.XYs[a].X > s.XYs[b].X:
			return 1
		}
		return 0
	})
	xys, errs := make(plotter.XYs, len(idx)), make(plotter.YErrors, len(idx))
	for i, j := range idx {
		xys[i], errs[i] = s.XYs[j], s.YErrors[j]
	}
	s.XYs, s.YErrors = xys, errs
}

// WritePlot renders p in a format ("png" at 200 dpi, "svg" with embedded
// fonts, or "pdf") to w, at 16 x 10 cm.
func WritePlot(w io.Writer, p *plot.Plot, format string) error {
	width, height := 16*vg.Centimeter, 10*vg.Centimeter
	var c interface {
		vg.CanvasSizer
		io.WriterTo
	}
	switch format {
	case "png":
		img := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(200))
		p.Draw(draw.New(img))
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
		return err
	case "svg":
		c = vgsvg.NewWith(vgsvg.UseWH(width, height), vgsvg.EmbedFonts(true))
	case "pdf":
		c = vgpdf.New(width, height)
	default:
		return fmt.Errorf("unknown chart format %q (png, svg or pdf)", format)
	}
	p.Draw(draw.New(c))
	_, err := c.WriteTo(w)
	return err
}

// SavePlot writes p to path, in the format of its extension, atomically.
func SavePlot(path string, p *plot.Plot) error {
	format := strings.TrimPrefix(filepath.Ext(path), ".")
	var buf bytes.Buffer
	if err := WritePlot(&buf, p, format); err != nil {
		return err
	}
	return results.WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(buf.Bytes())
		return err
	})
}
