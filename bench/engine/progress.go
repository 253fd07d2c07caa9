package engine

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/ssmbench/ssmbench/bench/results"
)

// Progress receives the engine's progress events.
type Progress interface {
	Start(total, done int)
	CellStart(c Cell)
	CellDone(c Cell, row results.CellRow)
	Finish(s *Summary)
}

type nopProgress struct{}

func (nopProgress) Start(int, int)                 {}
func (nopProgress) CellStart(Cell)                 {}
func (nopProgress) CellDone(Cell, results.CellRow) {}
func (nopProgress) Finish(*Summary)                {}

// NewProgress returns a progress reporter writing to w: a bar with an ETA
// when w is a terminal, one plain line per cell otherwise (CI logs).
func NewProgress(w io.Writer, terminal bool) Progress {
	return &progress{w: w, tty: terminal}
}

type progress struct {
	w          io.Writer
	tty        bool
	bar        *progressbar.ProgressBar
	total      int
	done       int
	start      time.Time
	ranInThis  int
	cellsStart time.Time
}

func (p *progress) Start(total, done int) {
	p.total, p.done, p.start = total, done, time.Now()
	if done > 0 {
		fmt.Fprintf(p.w, "resuming: %d of %d cells already done\n", done, total)
	}
	if p.tty {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		_ = p.bar.Set(done)
	}
}

func (p *progress) CellStart(c Cell) {
	p.cellsStart = time.Now()
	if p.bar != nil {
		p.bar.Describe(c.String())
	}
}

func (p *progress) CellDone(c Cell, row results.CellRow) {
	p.done++
	p.ranInThis++
	if p.bar != nil {
		_ = p.bar.Add(1)
		if row.Status != results.StatusOK {
			// Keep failures visible above the bar.
			fmt.Fprintf(p.w, "\r\033[K%s: %s\n", c, statusText(row))
		}
		return
	}
	eta := ""
	if left := p.total - p.done; left > 0 && p.ranInThis > 0 {
		per := time.Since(p.start) / time.Duration(p.ranInThis)
		eta = fmt.Sprintf(", eta %s", (per * time.Duration(left)).Round(time.Second))
	}
	fmt.Fprintf(p.w, "[%d/%d] %s: %s (%.1fs%s)\n", p.done, p.total, c, statusText(row), time.Since(p.cellsStart).Seconds(), eta)
}

func (p *progress) Finish(s *Summary) {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
	fmt.Fprintf(p.w, "%d cells in %s (%d run now, %d resumed): %v\n", s.Planned, time.Since(p.start).Round(time.Millisecond), s.Ran, s.Resumed, s.StatusCounts)
}

func statusText(r results.CellRow) string {
	if r.Status != results.StatusOK {
		msg := r.Status
		if r.Error != nil {
			msg += ": " + *r.Error
		}
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		return msg
	}
	for _, v := range []struct {
		p50, cv *float64
	}{{r.DecodeMsP50, r.DecodeMsCV}, {r.PrefillMsP50, r.PrefillMsCV}, {r.GenerateMsP50, r.GenerateMsCV}} {
		if v.p50 != nil {
			return fmt.Sprintf("ok %.3f ms (cv %.1f%%)", *v.p50, 100**v.cv)
		}
	}
	return "ok"
}
