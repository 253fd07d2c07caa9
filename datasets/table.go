// Package datasets loads the multimodal benchmarks from their real on-disk
// layouts (MME folders, VLMEvalKit TSVs with base64 images, POPE jsonl,
// TextVQA/GQA/VQAv2/SEED/ScienceQA/MM-Vet json, MMMU parquet) into Items,
// reads model predictions in the formats other harnesses write (LLaVA
// answer jsonl, VLMEvalKit xlsx/tsv, lmms-eval samples jsonl, MME
// Your_Results folders, GQA/VQA result json), and resolves dataset
// locations through a registry file. Nothing is downloaded. Errors name
// the file and line (or row) at fault.
package datasets

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ssmbench/ssmbench/eval/pycompat"
	"github.com/xuri/excelize/v2"
)

// pandasNA are the strings pandas' read_csv/read_excel turn into NaN by
// default.
var pandasNA = map[string]bool{
	"": true, "#N/A": true, "#N/A N/A": true, "#NA": true, "-1.#IND": true, "-1.#QNAN": true,
	"-NaN": true, "-nan": true, "1.#IND": true, "1.#QNAN": true, "<NA>": true, "N/A": true,
	"NA": true, "NULL": true, "NaN": true, "None": true, "n/a": true, "nan": true, "null": true,
}

// Cell is one table cell as pandas would see it.
type Cell struct {
	Raw string // the text in the file
	NaN bool   // pandas reads it as NaN
	// Str is str(value) in Python after pandas' dtype inference: "nan" for
	// NaN, "3.0" for an integer in a numeric column that holds NaNs.
	Str string
}

// Table is a VLMEvalKit-style TSV or XLSX sheet.
type Table struct {
	Path   string
	Header []string
	Rows   [][]Cell
	Lines  []int // the file line (TSV) or sheet row (XLSX) of each row
	col    map[string]int
}

// Col returns the index of a column (case-insensitive, as VLMEvalKit
// lowercases non-letter column names), or -1.
func (t *Table) Col(name string) int {
	if i, ok := t.col[name]; ok {
		return i
	}
	if i, ok := t.col[strings.ToLower(name)]; ok && len(name) > 1 {
		return i
	}
	return -1
}

// Get returns row r's cell of a column; a missing column reads as NaN.
func (t *Table) Get(r int, name string) Cell {
	i := t.Col(name)
	if i < 0 || i >= len(t.Rows[r]) {
		return Cell{NaN: true, Str: "nan"}
	}
	return t.Rows[r][i]
}

// Where names row r for error messages.
func (t *Table) Where(r int) string {
	if strings.HasSuffix(strings.ToLower(t.Path), ".xlsx") {
		return fmt.Sprintf("%s:row %d", t.Path, t.Lines[r])
	}
	return fmt.Sprintf("%s:%d", t.Path, t.Lines[r])
}

// ReadTable reads a .tsv (pandas read_csv(sep='\t')) or .xlsx (first
// sheet) file with pandas' NaN and numeric-column rules.
func ReadTable(path string) (*Table, error) {
	if strings.HasSuffix(strings.ToLower(path), ".xlsx") {
		return readXLSX(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseTSV(path, f)
}

// ParseTSV parses tab-separated text with a header row. name is used in
// error messages.
func ParseTSV(name string, r io.Reader) (*Table, error) {
	cr := csv.NewReader(r)
	cr.Comma = '\t'
	cr.LazyQuotes = true
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s:1: empty file, want a header row", name)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	header[0] = strings.TrimPrefix(header[0], "\ufeff")
	var raw [][]string
	var lines []int
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && rec[0] == "" {
			continue // pandas skips blank lines
		}
		if len(rec) > len(header) {
			return nil, fmt.Errorf("%s:%d: %d fields, header has %d", name, line, len(rec), len(header))
		}
		raw = append(raw, rec)
		lines = append(lines, line)
	}
	return newTable(name, header, raw, lines)
}

func readXLSX(path string) (*Table, error) {
	f, err := excelize.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, fmt.Errorf("%s: no sheet", path)
	}
	rows, err := f.GetRows(sheets[0], excelize.Options{RawCellValue: true})
	if err != nil {
		return nil, fmt.Errorf("%s: sheet %s: %w", path, sheets[0], err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s:row 1: empty sheet, want a header row", path)
	}
	header := rows[0]
	var raw [][]string
	var lines []int
	for i, r := range rows[1:] {
		if len(r) == 0 {
			continue
		}
		if len(r) > len(header) {
			return nil, fmt.Errorf("%s:row %d: %d cells, header has %d", path, i+2, len(r), len(header))
		}
		raw = append(raw, r)
		lines = append(lines, i+2)
	}
	return newTable(path, header, raw, lines)
}

// newTable applies pandas' NaN strings and per-column numeric inference.
func newTable(name string, header []string, raw [][]string, lines []int) (*Table, error) {
	t := &Table{Path: name, Header: header, Lines: lines, col: map[string]int{}}
	for i, h := range header {
		if _, dup := t.col[h]; dup {
			return nil, fmt.Errorf("%s:1: duplicate column %q", name, h)
		}
		t.col[h] = i
		if len(h) > 1 {
			if _, ok := t.col[strings.ToLower(h)]; !ok {
				t.col[strings.ToLower(h)] = i
			}
		}
	}
	t.Rows = make([][]Cell, len(raw))
	for r, rec := range raw {
		cells := make([]Cell, len(header))
		for c := range header {
			v := ""
			if c < len(rec) {
				v = rec[c]
			}
			cells[c] = Cell{Raw: v, NaN: pandasNA[v], Str: v}
			if cells[c].NaN {
				cells[c].Str = "nan"
			}
		}
		t.Rows[r] = cells
	}
	for c := range header {
		inferColumn(t.Rows, c)
	}
	return t, nil
}

// inferColumn gives a column pandas' numeric dtype when every non-NaN cell
// is a number: int64 without NaNs, float64 (so "3" reads back as "3.0")
// otherwise.
func inferColumn(rows [][]Cell, c int) {
	allInt, allNum, hasNaN, any := true, true, false, false
	for _, r := range rows {
		cell := r[c]
		if cell.NaN {
			hasNaN = true
			continue
		}
		any = true
		s := strings.TrimSpace(cell.Raw)
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			allInt = false
			if _, err := strconv.ParseFloat(s, 64); err != nil || strings.ContainsAny(s, "_xXpP") || strings.EqualFold(s, "inf") || strings.EqualFold(s, "infinity") {
				allNum = false
				break
			}
		}
	}
	if !any || !allNum {
		return
	}
	for i := range rows {
		cell := &rows[i][c]
		if cell.NaN {
			continue
		}
		s := strings.TrimSpace(cell.Raw)
		if allInt && !hasNaN {
			n, _ := strconv.ParseInt(s, 10, 64)
			cell.Str = strconv.FormatInt(n, 10)
			continue
		}
		f, _ := strconv.ParseFloat(s, 64)
		cell.Str = pycompat.FormatFloat(f)
	}
}

// resolve makes p absolute relative to base when it is relative.
func resolve(base, p string) string {
	if p == "" || filepath.IsAbs(p) || base == "" {
		return p
	}
	return filepath.Join(base, p)
}

// readLines splits data into lines as Python's text-mode readlines does
// (universal newlines: \r\n, \r and \n all end a line), keeping no line
// terminator. A final line without terminator is kept.
func readLines(data []byte) []string {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// jsonLines returns the non-blank lines of a JSON-lines file with their
// 1-based line numbers.
func jsonLines(data []byte) (lines [][]byte, nums []int) {
	for i, l := range bytes.Split(data, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		lines = append(lines, l)
		nums = append(nums, i+1)
	}
	return lines, nums
}
