// Package prompt builds the prompts the seed (mmMamba) evaluated with:
// per-benchmark question text (its VLMEvalKit wrapper eval/mmMamba.py and
// the InternVL eval kit; /work/shared/reference/eval-scoring.md, top), the
// image tags of InternVL's chat()/reorganize_prompt, and the internlm2-chat
// template of InternVL's conversation.py with its system message.
package prompt

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/ssmbench/ssmbench/datasets"
)

// SystemMessage is the internlm2-chat template's system message in
// InternVL's conversation.py (InternVL 1.5/2; HoVLE and mmMamba copy that
// file and chat() sets template.system_message from it). HoVLE's own copy
// was not read, so a checkpoint with a different conversation.py may use
// another; Options.System overrides it.
const SystemMessage = "你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。"

// Template pieces of internlm2-chat (SeparatorStyle.MPT): system_template
// "<|im_start|>system\n{system_message}", roles "<|im_start|>user\n" and
// "<|im_start|>assistant\n", sep "<|im_end|>" (also the EOS chat() stops at).
const (
	ImStart    = "<|im_start|>"
	ImEnd      = "<|im_end|>"
	ImageTag   = "<image>"
	SingleWord = "Answer the question using a single word or phrase."
	LetterEN   = "Answer with the option's letter from the given choices directly."
	LetterCN   = "请直接回答选项字母。"
	DirectEN   = "Answer the question directly."
	DirectCN   = "请直接回答问题。"
	// popeYesNo is what the seed removes from POPE questions.
	popeYesNo = " Please answer yes or no."
)

var cjk = regexp.MustCompile(`[\x{4e00}-\x{9fff}]`)

// Question returns the seed's user text for an item, without image tags:
//
//   - MME: question + "Answer the question using a single word or phrase."
//     (no separator, as the seed's wrapper writes it);
//   - POPE: question without " Please answer yes or no." +
//     "\nAnswer the question using a single word or phrase." (a question that
//     already ends with that line, as LLaVA's llava_pope_test.jsonl does, is
//     not given it twice);
//   - MCQ (MMBench, SEED, ScienceQA, AI2D, MMMU): VLMEvalKit's InternVL
//     build_multi_choice_prompt: hint + "\n" (when there is one), question,
//     "\nX. option" per option, then "\nAnswer with the option's letter from
//     the given choices directly." (the Chinese line for Chinese prompts;
//     "Answer the question directly." when there are no options);
//   - VQA (TextVQA, VQAv2, GQA): question + "\nAnswer the question using a
//     single word or phrase.";
//   - MM-Vet: the question as it is.
func Question(bench string, it *datasets.Item) (string, error) {
	q := it.Question
	switch bench {
	case datasets.MME:
		return q + SingleWord, nil
	case datasets.POPE:
		q = strings.Replace(q, popeYesNo, "", 1)
		q = strings.TrimSuffix(q, "\n"+SingleWord)
		return q + "\n" + SingleWord, nil
	case datasets.MMBench, datasets.SEED, datasets.ScienceQA, datasets.AI2D, datasets.MMMU:
		if it.Hint != "" {
			q = it.Hint + "\n" + q
		}
		for _, o := range it.Options {
			q += "\n" + o.Letter + ". " + o.Text
		}
		cn := cjk.MatchString(q)
		switch {
		case len(it.Options) > 0 && cn:
			q += "\n" + LetterCN
		case len(it.Options) > 0:
			q += "\n" + LetterEN
		case cn:
			q += "\n" + DirectCN
		default:
			q += "\n" + DirectEN
		}
		return q, nil
	case datasets.TextVQA, datasets.VQAv2, datasets.GQA:
		return q + "\n" + SingleWord, nil
	case datasets.MMVet:
		return q, nil
	}
	return "", fmt.Errorf("prompt: unknown benchmark %q", bench)
}

// User adds the image tags to a question: "<image>\n" before it for one
// image (chat()), "Image-1: <image>\nImage-2: <image>\n..." for several
// (VLMEvalKit's reorganize_prompt), nothing for none.
func User(question string, images int) string {
	switch images {
	case 0:
		return question
	case 1:
		return ImageTag + "\n" + question
	}
	var b strings.Builder
	for i := 1; i <= images; i++ {
		fmt.Fprintf(&b, "Image-%d: %s\n", i, ImageTag)
	}
	return b.String() + question
}

// Chat wraps one user turn in the internlm2-chat template:
// "<|im_start|>system\n{system}<|im_end|><|im_start|>user\n{user}<|im_end|><|im_start|>assistant\n".
func Chat(system, user string) string {
	return ImStart + "system\n" + system + ImEnd + ImStart + "user\n" + user + ImEnd + ImStart + "assistant\n"
}

// Split cuts a chat prompt at its first n image tags (chat() replaces
// them in order, one per image) and returns the n+1 texts around them.
func Split(chat string, n int) ([]string, error) {
	out := make([]string, 0, n+1)
	rest := chat
	for i := 0; i < n; i++ {
		k := strings.Index(rest, ImageTag)
		if k < 0 {
			return nil, fmt.Errorf("prompt: %d image tags for %d images", i, n)
		}
		out = append(out, rest[:k])
		rest = rest[k+len(ImageTag):]
	}
	return append(out, rest), nil
}

// Stop returns the stop list of every request: the template's separator,
// the EOS chat() passes to generate.
func Stop() []string { return []string{ImEnd} }
