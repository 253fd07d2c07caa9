package eval_test

import (
	"fmt"

	"github.com/ssmbench/ssmbench/eval"
)

func ExampleSeedRow() {
	r, _ := eval.SeedRow("mmmamba-linear-tiny")
	fmt.Println(r.Method, r.Scores["mme"], r.Scores["pope"], r.Trainable)
	// Output: mmMamba-linear 1303.5 85.2 14.7%
}
