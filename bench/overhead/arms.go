package overhead

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/ssmbench/ssmbench/bench/telemetry"
)

// OffArm is the name of the arm without a sampler.
const OffArm = "off"

// Arm is one condition of the experiment: the sampler off (Hz 0) or
// sampling at Hz.
type Arm struct {
	// Name is "off" or the rate, e.g. "100 Hz".
	Name string `json:"name"`
	// Hz is the sampling rate; 0 for the off arm.
	Hz float64 `json:"hz"`
}

// ArmName names the arm of a rate: "off" for 0, else "100 Hz".
func ArmName(hz float64) string {
	if hz == 0 {
		return OffArm
	}
	return strconv.FormatFloat(hz, 'g', -1, 64) + " Hz"
}

// Arms returns the off arm followed by one arm per rate, in the order
// given. Rates must be positive, at most telemetry.MaxHz and distinct.
func Arms(rates []float64) ([]Arm, error) {
	if len(rates) == 0 {
		return nil, fmt.Errorf("hz: no sampling rate given")
	}
	arms := []Arm{{Name: OffArm}}
	for i, hz := range rates {
		switch {
		case math.IsNaN(hz) || hz <= 0 || hz > telemetry.MaxHz:
			return nil, fmt.Errorf("hz[%d]: %v is not a rate in (0, %d] Hz", i, hz, telemetry.MaxHz)
		case slices.Index(rates, hz) != i:
			return nil, fmt.Errorf("hz[%d]: %v Hz given twice", i, hz)
		}
		arms = append(arms, Arm{Name: ArmName(hz), Hz: hz})
	}
	return arms, nil
}

// RoundOrder returns the order in which the arms run in round r (from 0):
// the arms rotated left by r, so that each arm leads in turn.
func RoundOrder(arms []Arm, r int) []Arm {
	n := len(arms)
	out := make([]Arm, 0, n)
	if n == 0 {
		return out
	}
	k := ((r % n) + n) % n
	out = append(out, arms[k:]...)
	return append(out, arms[:k]...)
}

// RepsPerRound is how many repetitions each arm runs in a round so that it
// has at least reps in rounds rounds: ceil(reps/rounds).
func RepsPerRound(reps, rounds int) int {
	if reps <= 0 || rounds <= 0 {
		return 0
	}
	return (reps + rounds - 1) / rounds
}
