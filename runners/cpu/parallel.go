package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallelMinWork is the smallest amount of work (in multiply-adds) worth
// splitting over goroutines.
const parallelMinWork = 1 << 17

// parallelFor runs fn(i) for i in [0, n), over up to GOMAXPROCS goroutines
// when work (the total multiply-adds) is large enough, else serially. Each
// i must be independent of the others, so the result does not depend on
// the split. fn receives a worker index in [0, workers) for scratch.
func parallelFor(n int, work int, fn func(worker, i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if !parallelWorth(n, work) {
		for i := 0; i < n; i++ {
			fn(0, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(w, i)
			}
		}(w)
	}
	wg.Wait()
}

// parallelWorth reports whether parallelFor would use goroutines, so that
// callers can skip building a closure (an allocation) on the serial path.
func parallelWorth(n, work int) bool {
	return min(runtime.GOMAXPROCS(0), n) > 1 && work >= parallelMinWork
}
