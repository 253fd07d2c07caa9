package prompt_test

import (
	"fmt"

	"github.com/ssmbench/ssmbench/datasets"
	"github.com/ssmbench/ssmbench/eval/prompt"
)

func ExampleQuestion() {
	it := &datasets.Item{Question: "Which animal is shown?", Hint: "Look closely.",
		Options: []datasets.Option{{Letter: "A", Text: "cat"}, {Letter: "B", Text: "dog"}}}
	q, _ := prompt.Question(datasets.SEED, it)
	fmt.Println(q)
	// Output:
	// Look closely.
	// Which animal is shown?
	// A. cat
	// B. dog
	// Answer with the option's letter from the given choices directly.
}

func ExampleChat() {
	q, _ := prompt.Question(datasets.POPE, &datasets.Item{Question: "Is there a dog in the image? Please answer yes or no."})
	fmt.Printf("%q\n", prompt.Chat("SYSTEM", prompt.User(q, 1)))
	// Output:
	// "<|im_start|>system\nSYSTEM<|im_end|><|im_start|>user\n<image>\nIs there a dog in the image?\nAnswer the question using a single word or phrase.<|im_end|><|im_start|>assistant\n"
}
