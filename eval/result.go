// Package eval holds what every benchmark scorer returns — a Result made of
// Metrics whose names carry their unit — together with its renderers (a
// text table, JSON) and its flat ScoreRow form for parquet files. The
// scoring math lives in the sub-packages (eval/vqa, eval/yesno, eval/mcq)
// and the per-benchmark dispatch in eval/score; none of them reads files.
package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// Metric scopes.
const (
	ScopeOverall    = "overall"     // the whole benchmark
	ScopeSplit      = "split"       // POPE random/popular/adversarial, MMBench/MMMU split
	ScopeCategory   = "category"    // MMBench/SEED/MMMU category, POPE category
	ScopeL2Category = "l2-category" // MMBench l2-category (abbreviated CP, FP-S, ...)
	ScopeSubtask    = "subtask"     // MME subtask
	ScopeSuper      = "super"       // MME perception / cognition
	ScopeAnswerType = "answer_type" // VQA answer type (yes/no, number, other)
	ScopeType       = "type"        // GQA structural type (binary/open), question type
)

// Metric is one number of a Result. Name carries the unit
// (accuracy_pct, f1_pct, score_pts, ratio_pct, count).
type Metric struct {
	Scope string  `json:"scope"`
	Group string  `json:"group,omitempty"`
	Name  string  `json:"name"`
	Value float64 `json:"value"` // NaN when undefined (e.g. a 0/0 precision); JSON null
	N     int     `json:"n"`     // how many items the value is computed over
}

// MarshalJSON writes an undefined (NaN or infinite) value as null.
func (m Metric) MarshalJSON() ([]byte, error) {
	type plain struct {
		Scope string   `json:"scope"`
		Group string   `json:"group,omitempty"`
		Name  string   `json:"name"`
		Value *float64 `json:"value"`
		N     int      `json:"n"`
	}
	p := plain{Scope: m.Scope, Group: m.Group, Name: m.Name, N: m.N}
	if !math.IsNaN(m.Value) && !math.IsInf(m.Value, 0) {
		v := m.Value
		p.Value = &v
	}
	return json.Marshal(p)
}

// UnmarshalJSON reads what MarshalJSON writes (null becomes NaN).
func (m *Metric) UnmarshalJSON(b []byte) error {
	var p struct {
		Scope string   `json:"scope"`
		Group string   `json:"group"`
		Name  string   `json:"name"`
		Value *float64 `json:"value"`
		N     int      `json:"n"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*m = Metric{Scope: p.Scope, Group: p.Group, Name: p.Name, N: p.N, Value: math.NaN()}
	if p.Value != nil {
		m.Value = *p.Value
	}
	return nil
}

// Result is the score of one benchmark under one rules variant.
type Result struct {
	Bench string `json:"bench"`
	// Rules is the rules variant used (e.g. "vlmevalkit-2502"); RulesDoc
	// names the toolkit and commit it follows.
	Rules    string `json:"rules"`
	RulesDoc string `json:"rules_doc"`
	// Headline is the number a paper reports, also present in Metrics.
	Headline Metric   `json:"headline"`
	Metrics  []Metric `json:"metrics"`
	// Items is the number of benchmark items scored; Missing of them had no
	// prediction (scored wrong); Unparseable predictions could not be
	// mapped to an answer (scored wrong, as a judge-free harness must).
	Items       int `json:"items"`
	Missing     int `json:"missing"`
	Unparseable int `json:"unparseable"`
	// Extra counts predictions that matched no benchmark item (ignored).
	Extra int      `json:"extra"`
	Notes []string `json:"notes,omitempty"`
}

// Add appends a metric and returns it.
func (r *Result) Add(scope, group, name string, value float64, n int) Metric {
	m := Metric{Scope: scope, Group: group, Name: name, Value: value, N: n}
	r.Metrics = append(r.Metrics, m)
	return m
}

// Notef appends a note.
func (r *Result) Notef(format string, a ...any) { r.Notes = append(r.Notes, fmt.Sprintf(format, a...)) }

// Find returns the metric with the given scope, group and name.
func (r *Result) Find(scope, group, name string) (Metric, bool) {
	for _, m := range r.Metrics {
		if m.Scope == scope && m.Group == group && m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// Pct returns 100*num/den, or NaN when den is 0.
func Pct(num, den float64) float64 {
	if den == 0 {
		return math.NaN()
	}
	return 100 * num / den
}

// Accumulator averages per-item scores overall and per group.
type Accumulator struct {
	sum   map[[2]string]float64
	n     map[[2]string]int
	order [][2]string
}

// Observe records one item's score under the (scope, group) key.
func (a *Accumulator) Observe(scope, group string, score float64) {
	if a.sum == nil {
		a.sum = map[[2]string]float64{}
		a.n = map[[2]string]int{}
	}
	k := [2]string{scope, group}
	if _, ok := a.n[k]; !ok {
		a.order = append(a.order, k)
	}
	a.sum[k] += score
	a.n[k]++
}

// Emit adds one metric per observed key to r, as 100 × mean score, with
// overall first and groups sorted within a scope; it returns the overall
// metric when one was observed.
func (a *Accumulator) Emit(r *Result, name string) (Metric, bool) {
	keys := append([][2]string(nil), a.order...)
	rank := map[string]int{}
	for i, k := range a.order {
		if _, ok := rank[k[0]]; !ok {
			rank[k[0]] = i
		}
	}
	sort.SliceStable(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			if keys[i][0] == ScopeOverall {
				return true
			}
			if keys[j][0] == ScopeOverall {
				return false
			}
			return rank[keys[i][0]] < rank[keys[j][0]]
		}
		return keys[i][1] < keys[j][1]
	})
	var overall Metric
	found := false
	for _, k := range keys {
		m := r.Add(k[0], k[1], name, Pct(a.sum[k], float64(a.n[k])), a.n[k])
		if k[0] == ScopeOverall && k[1] == "" {
			overall, found = m, true
		}
	}
	return overall, found
}
