package telemetry

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// DefaultHz is the sampling rate when Options.Hz is zero.
const DefaultHz = 100

// MaxHz is the highest sampling rate Open accepts.
const MaxHz = 10000

// DefaultMaxSamples caps the samples one Session keeps (about 100 MiB).
const DefaultMaxSamples = 1 << 20

// Options configures a Monitor. The zero value samples the real NVML at
// DefaultHz.
type Options struct {
	// Lib is the NVML to use; nil means nvml.New() (the real library,
	// dlopen'ed at Open). Tests pass a fake (see package nvmlfake).
	Lib nvml.Interface
	// Hz is the sampling rate of a Session; 0 means DefaultHz. Rates up to
	// MaxHz are accepted; whether they are reached depends on how fast the
	// driver answers (Aggregate.TelemetryHzAchieved says).
	Hz float64
	// SlowEvery makes only every SlowEvery-th tick read the slow-changing
	// readings (power, energy, clocks, throttle reasons, temperature,
	// utilisation); the other ticks read memory only (per process and
	// device). 0 means automatic: ceil(Hz/100), so those readings are
	// taken at about 100 Hz whatever Hz is. Boundary samples (begin, end,
	// window start and end) always read everything.
	SlowEvery int
	// ThrottleIgnore holds clocks-event reason bits that do not flag a cell
	// as throttled (e.g. nvml.ClocksEventReasonApplicationsClocksSetting
	// when clocks are locked on purpose). The idle bit never flags.
	ThrottleIgnore uint64
	// ProcRoot is the process table used to find the runner's descendants;
	// "" means "/proc".
	ProcRoot string
	// MaxSamples caps the samples a Session keeps; 0 means
	// DefaultMaxSamples. Past it the timeline stops growing but memory
	// peaks are still tracked (and a warning says so).
	MaxSamples int
	// Tick, when not nil, replaces the ticker: each value received takes one
	// sample, and the value is that sample's timestamp. Tests use it to
	// drive the sampler deterministically. A closed channel stops ticking.
	Tick <-chan time.Time
	// Now is the clock for the begin, end and window samples; nil means
	// time.Now. It is called by Begin and, while a window call or End
	// waits, by the sampler goroutine: for one Session, never by two
	// goroutines at once.
	Now func() time.Time
}

// Monitor owns an NVML session and starts a sampling Session per cell. Its
// methods are safe for concurrent use.
type Monitor struct {
	opts      Options
	lib       nvml.Interface
	available bool
	reason    string
	count     int

	mu       sync.Mutex
	sessions map[*Session]struct{}
	closed   bool
}

// Open initialises NVML. It fails only on invalid options: when NVML cannot
// be initialised or shows no device, the Monitor it returns reports
// Available() == false with the reason, and its Sessions record nothing.
func Open(opts Options) (*Monitor, error) {
	switch {
	case math.IsNaN(opts.Hz) || opts.Hz < 0 || opts.Hz > MaxHz:
		return nil, fmt.Errorf("telemetry: Hz %v outside 0..%d", opts.Hz, MaxHz)
	case opts.SlowEvery < 0:
		return nil, fmt.Errorf("telemetry: SlowEvery %d is negative", opts.SlowEvery)
	case opts.MaxSamples < 0:
		return nil, fmt.Errorf("telemetry: MaxSamples %d is negative", opts.MaxSamples)
	}
	if opts.Hz == 0 {
		opts.Hz = DefaultHz
	}
	if opts.SlowEvery == 0 {
		opts.SlowEvery = max(1, int(math.Ceil(opts.Hz/100)))
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.MaxSamples == 0 {
		opts.MaxSamples = DefaultMaxSamples
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &Monitor{opts: opts, sessions: map[*Session]struct{}{}}
	lib := opts.Lib
	if lib == nil {
		lib = nvml.New()
	}
	if ret := lib.Init(); ret != nvml.SUCCESS {
		m.reason = initReason(ret)
		return m, nil
	}
	m.lib = lib
	n, ret := lib.DeviceGetCount()
	switch {
	case ret != nvml.SUCCESS:
		m.reason = "NVML DeviceGetCount: " + ret.Error()
	case n == 0:
		m.reason = "NVML reports no GPU"
	default:
		m.available, m.count = true, n
	}
	if !m.available {
		lib.Shutdown()
		m.lib = nil
	}
	return m, nil
}

func initReason(ret nvml.Return) string {
	switch ret {
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return "no NVIDIA driver: libnvidia-ml.so.1 not found (NVML " + ret.Error() + ")"
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return "NVIDIA kernel driver not loaded (NVML " + ret.Error() + ")"
	}
	return "NVML Init failed: " + ret.Error()
}

// Available reports whether NVML is usable and shows at least one GPU.
func (m *Monitor) Available() bool { return m.available }

// Reason says why the Monitor is not available ("" when it is).
func (m *Monitor) Reason() string { return m.reason }

// DeviceCount is the number of GPUs NVML shows (0 when not available).
func (m *Monitor) DeviceCount() int { return m.count }

// Hz is the sampling rate Sessions use.
func (m *Monitor) Hz() float64 { return m.opts.Hz }

// Close ends any Session still running (discarding its data) and shuts
// NVML down. It is safe to call more than once.
func (m *Monitor) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	open := make([]*Session, 0, len(m.sessions))
	for s := range m.sessions {
		open = append(open, s)
	}
	m.mu.Unlock()
	for _, s := range open {
		s.End()
	}
	if m.lib != nil {
		if ret := m.lib.Shutdown(); ret != nvml.SUCCESS {
			return fmt.Errorf("telemetry: NVML Shutdown: %w", ret)
		}
	}
	return nil
}

// Begin starts sampling device deviceIndex for a cell whose runner process
// is rootPID (its descendants count too). It never fails: on a Monitor
// that is not available it returns an inert Session whose End gives an
// empty Aggregate, and a device that cannot be opened becomes a warning in
// the Aggregate.
func (m *Monitor) Begin(cellID string, rootPID, deviceIndex int) *Session {
	s := &Session{m: m, cellID: cellID, root: rootPID, devIndex: deviceIndex}
	if !m.available {
		s.ended = true
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		s.ended = true
		s.result.Warnings = []string{"telemetry monitor already closed"}
		return s
	}
	dev, ret := m.lib.DeviceGetHandleByIndex(deviceIndex)
	if ret != nvml.SUCCESS {
		s.ended = true
		s.result.Warnings = []string{fmt.Sprintf("GPU %d: NVML DeviceGetHandleByIndex: %v (no telemetry)", deviceIndex, ret)}
		return s
	}
	s.start(dev)
	m.sessions[s] = struct{}{}
	return s
}

func (m *Monitor) forget(s *Session) {
	m.mu.Lock()
	delete(m.sessions, s)
	m.mu.Unlock()
}
