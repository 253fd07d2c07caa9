package vqa_test

import (
	"fmt"

	"github.com/ssmbench/ssmbench/eval/vqa"
)

func ExampleEvalAI() {
	fmt.Printf("%q\n", vqa.EvalAI("What's on the 1,000 T-shirts?"))
	fmt.Printf("%q\n", vqa.ProcessAnswer("What's on the 1,000 T-shirts?", vqa.PeriodOfficial))
	// Output:
	// "what 's on 1000 t shirts"
	// "what's on 1000 tshirts"
}

func ExampleSoftAccuracy() {
	gts := []string{"2", "2", "2", "two", "3", "3", "3", "3", "3", "3"}
	fmt.Printf("%.1f %.1f\n", vqa.SoftAccuracy("2", gts), vqa.SoftAccuracy("3", gts))
	// Output: 0.9 1.0
}
