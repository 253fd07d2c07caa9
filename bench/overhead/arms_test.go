package overhead

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestArms(t *testing.T) {
	cases := []struct {
		name  string
		rates []float64
		want  string // arm names joined, or the error's substring
		err   bool
	}{
		{"default", []float64{100, 1000}, "off,100 Hz,1000 Hz", false},
		{"fractional", []float64{0.5}, "off,0.5 Hz", false},
		{"order kept", []float64{1000, 10}, "off,1000 Hz,10 Hz", false},
		{"none", nil, "no sampling rate", true},
		{"zero", []float64{100, 0}, "hz[1]: 0 is not a rate", true},
		{"negative", []float64{-1}, "hz[0]", true},
		{"NaN", []float64{math.NaN()}, "hz[0]", true},
		{"too fast", []float64{20000}, "hz[0]: 20000", true},
		{"twice", []float64{100, 1000, 100}, "hz[2]: 100 Hz given twice", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			arms, err := Arms(tc.rates)
			if tc.err {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for i, a := range arms {
				names = append(names, a.Name)
				if i > 0 && a.Hz != tc.rates[i-1] {
					t.Errorf("arm %d: Hz %v, want %v", i, a.Hz, tc.rates[i-1])
				}
			}
			if got := strings.Join(names, ","); got != tc.want {
				t.Errorf("arms %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRoundOrder(t *testing.T) {
	arms, _ := Arms([]float64{100, 1000})
	for _, n := range []int{3, 5, 6, 7} {
		t.Run(fmt.Sprint(n, " rounds"), func(t *testing.T) {
			lead := map[string]int{}
			pos := map[string]int{} // sum of positions
			for r := range n {
				order := RoundOrder(arms, r)
				if len(order) != len(arms) {
					t.Fatalf("round %d: %d arms", r, len(order))
				}
				seen := map[string]bool{}
				for i, a := range order {
					if seen[a.Name] {
						t.Fatalf("round %d: %s twice", r, a.Name)
					}
					seen[a.Name] = true
					pos[a.Name] += i
				}
				if order[0] != arms[r%len(arms)] {
					t.Errorf("round %d leads with %s, want %s", r, order[0].Name, arms[r%len(arms)].Name)
				}
				lead[order[0].Name]++
			}
			// Every arm leads floor(n/3) or ceil(n/3) times: drift falls on all alike.
			for _, a := range arms {
				if l := lead[a.Name]; l < n/len(arms) || l > (n+len(arms)-1)/len(arms) {
					t.Errorf("%s leads %d of %d rounds", a.Name, l, n)
				}
			}
			if n%len(arms) == 0 && (pos["off"] != pos["100 Hz"] || pos["off"] != pos["1000 Hz"]) {
				t.Errorf("over a multiple of 3 rounds each arm should hold each place equally: %v", pos)
			}
		})
	}
	if got := RoundOrder(nil, 3); len(got) != 0 {
		t.Errorf("no arms: %v", got)
	}
	if got := RoundOrder(arms, -1); got[0] != arms[2] {
		t.Errorf("round -1 leads with %s", got[0].Name)
	}
}

func TestRepsPerRound(t *testing.T) {
	cases := []struct{ reps, rounds, want int }{
		{20, 5, 4}, {20, 3, 7}, {21, 5, 5}, {1, 5, 1}, {5, 5, 1}, {0, 5, 0}, {20, 0, 0},
	}
	for _, tc := range cases {
		got := RepsPerRound(tc.reps, tc.rounds)
		if got != tc.want {
			t.Errorf("RepsPerRound(%d, %d) = %d, want %d", tc.reps, tc.rounds, got, tc.want)
		}
		if tc.rounds > 0 && got*tc.rounds < tc.reps {
			t.Errorf("RepsPerRound(%d, %d) = %d gives fewer than %d in all", tc.reps, tc.rounds, got, tc.reps)
		}
	}
}

func ExampleRoundOrder() {
	arms, _ := Arms([]float64{100, 1000})
	for r := range 4 {
		var names []string
		for _, a := range RoundOrder(arms, r) {
			names = append(names, a.Name)
		}
		fmt.Printf("round %d: %s\n", r, strings.Join(names, ", "))
	}
	fmt.Println("reps per arm and round:", RepsPerRound(20, 5))
	// Output:
	// round 0: off, 100 Hz, 1000 Hz
	// round 1: 100 Hz, 1000 Hz, off
	// round 2: 1000 Hz, off, 100 Hz
	// round 3: off, 100 Hz, 1000 Hz
	// reps per arm and round: 4
}
