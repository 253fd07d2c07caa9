package cpu_test

import (
	"fmt"

	"github.com/ssmbench/ssmbench/runners/configs"
	"github.com/ssmbench/ssmbench/runners/cpu"
)

// Prefill a prompt, then decode two tokens with the recurrent path.
func ExampleModel_Step() {
	cfg, _ := configs.Builtin("mmmamba-hybrid-tiny")
	m, _ := cpu.NewRandom(cfg, 1)
	st := m.NewState(64)
	logits, _ := m.Prefill(st, []int{1, 17, 42, 7}, false)
	fmt.Println(len(logits), st.Pos)
	for _, tok := range []int{5, 9} {
		logits, _ = m.Step(st, tok)
	}
	fmt.Println(len(logits), st.Pos)
	// Output:
	// 512 4
	// 512 6
}
