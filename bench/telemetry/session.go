package telemetry

import (
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Session samples one device for one cell in a goroutine of its own. Its
// methods may be called from any goroutine; StartWindow, EndWindow and End
// take a sample synchronously (in the sampler goroutine, between ticks)
// before they return.
type Session struct {
	m        *Monitor
	cellID   string
	root     int
	devIndex int

	ctrl chan ctrlReq
	done chan struct{}

	endOnce sync.Once
	ended   bool // set before the goroutine starts, or by End
	result  Aggregate
	samples []Sample

	// owned by the sampler goroutine
	st sessionState
}

type ctrlKind uint8

const (
	ctrlStart ctrlKind = iota
	ctrlStop
	ctrlEnd
)

type ctrlReq struct {
	kind   ctrlKind
	t      time.Time
	tokens int
	reply  chan struct{}
}

// window is one measured window.
type window struct {
	start, end       time.Time
	startE, endE     uint64
	haveStartE, have bool // haveStartE: counter read at start; have: and at end
	tokens           int
	openAtEnd        bool // closed by End rather than EndWindow
}

// foreignProc is a process on the device outside the runner's tree.
type foreignProc struct {
	pid      uint32
	memPeak  uint64
	memKnown bool
}

// sessionState is everything the sampler goroutine owns.
type sessionState struct {
	opts    Options
	uuid    string
	rd      *reader
	cls     *pidClassifier
	recs    []rec
	dropped int
	ticks   int
	open    bool
	windows []window
	beginT  time.Time
	endT    time.Time
	foreign []foreignProc
	memNA   int  // samples where a runner process's memory was VALUE_NOT_AVAILABLE
	matched bool // a runner process was seen
	procsOK bool // the process list was read at least once
	scratch rec  // the sample past the cap (so that take's record never escapes)

	procPeak, winProcPeak, devPeak       uint64
	haveProcPeak, haveWinPeak, haveDevPk bool
}

func (s *Session) start(dev nvml.Device) {
	st := &s.st
	st.opts = s.m.opts
	st.rd = newReader(dev)
	st.cls = newPIDClassifier(st.opts.ProcRoot, s.root)
	if u, ret := dev.GetUUID(); ret == nvml.SUCCESS {
		st.uuid = u
	}
	st.recs = make([]rec, 0, min(st.opts.MaxSamples, max(64, int(st.opts.Hz*10))))
	s.ctrl = make(chan ctrlReq)
	s.done = make(chan struct{})
	st.beginT = st.opts.Now()
	st.take(kindBegin, st.beginT, true)
	go s.run()
}

func (s *Session) run() {
	defer close(s.done)
	st := &s.st
	tick := st.opts.Tick
	injected := tick != nil
	if !injected {
		t := time.NewTicker(time.Duration(float64(time.Second) / st.opts.Hz))
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case tv, ok := <-tick:
			if !ok {
				tick = nil
				continue
			}
			if !injected {
				tv = time.Now()
			}
			st.ticks++
			st.take(kindTick, tv, (st.ticks-1)%st.opts.SlowEvery == 0)
		case req := <-s.ctrl:
			// The clock is read here, not by the caller, so that a boundary
			// sample is never stamped before a tick taken meanwhile.
			req.t = st.opts.Now()
			switch req.kind {
			case ctrlStart:
				if !st.open {
					st.open = true
					x := st.take(kindWindowStart, req.t, true)
					w := window{start: req.t}
					if x.has(fEnergy) {
						w.startE, w.haveStartE = x.energyMJ, true
					}
					st.windows = append(st.windows, w)
				}
			case ctrlStop:
				if st.open {
					x := st.take(kindWindowEnd, req.t, true)
					st.open = false
					w := &st.windows[len(st.windows)-1]
					w.end, w.tokens = req.t, req.tokens
					if w.haveStartE && x.has(fEnergy) {
						w.endE, w.have = x.energyMJ, true
					}
				}
			case ctrlEnd:
				if st.open { // close a window left open at its end
					x := st.take(kindWindowEnd, req.t, true)
					st.open = false
					w := &st.windows[len(st.windows)-1]
					w.end, w.openAtEnd = req.t, true
					if w.haveStartE && x.has(fEnergy) {
						w.endE, w.have = x.energyMJ, true
					}
				}
				st.endT = req.t
				st.take(kindEnd, req.t, true)
				close(req.reply)
				return
			}
			close(req.reply)
		}
	}
}

func (s *Session) send(kind ctrlKind, tokens int) bool {
	if s.ctrl == nil {
		return false
	}
	req := ctrlReq{kind: kind, tokens: tokens, reply: make(chan struct{})}
	select {
	case s.ctrl <- req:
		<-req.reply
		return true
	case <-s.done:
		return false
	}
}

// StartWindow opens the measured window: it takes a sample (reading the
// energy counter) and marks the samples that follow as in the window. A
// window already open is left as it is. Several windows may be opened and
// closed in turn; energy and tokens add up over them.
func (s *Session) StartWindow() { s.send(ctrlStart, 0) }

// EndWindow closes the measured window, taking a sample; tokens is the
// number of tokens processed inside it (0 or less: no J/token).
func (s *Session) EndWindow(tokens int) { s.send(ctrlStop, tokens) }

// End stops sampling (taking a last sample) and returns the cell's
// Aggregate and its samples in time order. A window still open is closed
// without tokens. Later calls return the same values.
func (s *Session) End() (Aggregate, []Sample) {
	s.endOnce.Do(func() {
		if s.ended {
			return
		}
		s.send(ctrlEnd, 0)
		<-s.done
		s.ended = true
		s.m.forget(s)
		s.result = s.st.aggregate(s.devIndex, s.root)
		s.samples = s.st.export(s.cellID, s.devIndex)
	})
	return s.result, s.samples
}

// take reads one sample and stores it, returning a pointer to the copy
// kept (or to a scratch record when the cap is reached).
func (st *sessionState) take(kind sampleKind, t time.Time, full bool) *rec {
	t0 := time.Now()
	x := rec{t: t, kind: kind, inWindow: st.open, full: full}
	procs, ok := st.rd.procs(full)
	if ok {
		st.procsOK = true
		x.valid |= fProcMem
		memNA := false
		for _, p := range procs {
			known := p.UsedGpuMemory != valueNotAvailable
			if st.cls.isOurs(p.Pid) {
				x.procCount++
				if known {
					x.procMem += p.UsedGpuMemory
				} else {
					memNA = true
				}
				continue
			}
			x.foreignCount++
			if known {
				x.foreignMem += p.UsedGpuMemory
				x.valid |= fForeignMem
			}
			st.noteForeign(p.Pid, p.UsedGpuMemory, known)
		}
		if x.procCount > 0 {
			st.matched = true
			if memNA {
				st.memNA++
				if x.procMem == 0 { // no figure at all for the runner
					x.valid &^= fProcMem
				}
			}
		}
	}
	st.rd.device(full, &x)
	x.readNs = int64(time.Since(t0))

	if x.has(fProcMem) && x.procCount > 0 {
		st.procPeak, st.haveProcPeak = max(st.procPeak, x.procMem), true
		if x.inWindow {
			st.winProcPeak, st.haveWinPeak = max(st.winProcPeak, x.procMem), true
		}
	}
	if x.has(fDevUsed) {
		st.devPeak, st.haveDevPk = max(st.devPeak, x.devUsed), true
	}
	if len(st.recs) < st.opts.MaxSamples {
		st.recs = append(st.recs, x)
		return &st.recs[len(st.recs)-1]
	}
	st.dropped++
	st.scratch = x
	return &st.scratch
}

func (st *sessionState) noteForeign(pid uint32, mem uint64, known bool) {
	for i := range st.foreign {
		f := &st.foreign[i]
		if f.pid == pid {
			if known {
				f.memPeak, f.memKnown = max(f.memPeak, mem), true
			}
			return
		}
	}
	f := foreignProc{pid: pid}
	if known {
		f.memPeak, f.memKnown = mem, true
	}
	st.foreign = append(st.foreign, f)
}
