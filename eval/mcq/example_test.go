package mcq_test

import (
	"fmt"

	"github.com/ssmbench/ssmbench/eval/mcq"
)

func ExampleCanInfer() {
	opts := []mcq.Option{{Letter: "A", Text: "a red car"}, {Letter: "B", Text: "a blue bus"}}
	long := "B. Looking at the picture closely, the vehicle in the foreground is painted blue"
	fmt.Printf("%q %q\n", mcq.CanInfer(long, opts, mcq.V2502), mcq.CanInfer(long, opts, mcq.V2508))
	// Output: "B" ""
}
