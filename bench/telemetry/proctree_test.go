package telemetry

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		pid, ppid int
		wantErr   string
	}{
		{"plain", "1234 (python3) S 1 1234 1234 0 -1", 1234, 1, ""},
		{"comm with spaces and parens", "77 (a (b) c)) R 76 77", 77, 76, ""},
		{"kernel thread", "2 (kthreadd) S 0 0 0", 2, 0, ""},
		{"no comm", "1234 python3 S 1", 0, 0, "no '(comm)' field"},
		{"bad pid", "x1 (a) S 1", 0, 0, "field 1 (pid)"},
		{"missing ppid", "5 (a) S", 0, 0, "missing fields 3"},
		{"bad ppid", "5 (a) S one", 0, 0, "field 4 (ppid)"},
		{"empty", "", 0, 0, "no '(comm)' field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pid, ppid, err := ParseStat([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || pid != tc.pid || ppid != tc.ppid {
				t.Fatalf("got %d %d %v, want %d %d", pid, ppid, err, tc.pid, tc.ppid)
			}
		})
	}
}

func FuzzParseStat(f *testing.F) {
	for _, s := range []string{"1234 (python3) S 1 1234", "77 (a (b) c)) R 76 77", "(", ")", "1 () S 0", "9 (x) S -1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pid, ppid, err := ParseStat(b)
		if err != nil {
			return
		}
		if pid < 0 || ppid < 0 {
			t.Fatalf("negative ids %d %d from %q", pid, ppid, b)
		}
		// A well-formed line rebuilt from the parse parses the same.
		again, ppid2, err := ParseStat(fmt.Appendf(nil, "%d (c) S %d", pid, ppid))
		if err != nil || again != pid || ppid2 != ppid {
			t.Fatalf("rebuilt line: %d %d %v", again, ppid2, err)
		}
	})
}

func TestDescendants(t *testing.T) {
	root := fakeProc(t, standardProcs)
	tests := []struct {
		root int
		want []int
	}{
		{100, []int{100, 101, 102}},
		{101, []int{101, 102}},
		{200, []int{200}},
		{1, []int{1, 100, 101, 102, 200}},
		{999, []int{999}}, // not running: only itself
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.root), func(t *testing.T) {
			set, err := Descendants(root, tc.root)
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Sorted(maps.Keys(set)); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := Descendants(root+"/missing", 1); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing table: error %v", err)
	}
}

func TestClassifierWalksOnlyForNewPIDs(t *testing.T) {
	c := newPIDClassifier(fakeProc(t, standardProcs), 100)
	for range 3 {
		for _, pid := range []uint32{100, 101, 102, 200, 5000} {
			want := pid >= 100 && pid <= 102
			if got := c.isOurs(pid); got != want {
				t.Fatalf("isOurs(%d) = %v", pid, got)
			}
		}
	}
	// 101 (new: walk, found), 102 (found by that walk), 200 and 5000 (each a walk).
	if c.walks != 3 {
		t.Errorf("%d walks, want 3", c.walks)
	}
}

func TestReasonNames(t *testing.T) {
	tests := []struct {
		mask uint64
		want string
	}{
		{0, ""},
		{1, "gpu_idle"},
		{4 | 128, "sw_power_cap,hw_power_brake_slowdown"},
		{1<<12 | 8, "hw_slowdown,bit_12"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.mask), func(t *testing.T) {
			if got := ReasonString(tc.mask); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func ExampleReasonNames() {
	fmt.Println(ReasonNames(0x25)) // idle, software power cap, software thermal slowdown
	// Output: [gpu_idle sw_power_cap sw_thermal_slowdown]
}

func ExampleFormatBytes() {
	fmt.Println(FormatBytes(512), FormatBytes(1536<<20), FormatBytes(143771<<20))
	// Output: 512 B 1.50 GiB 140.40 GiB
}

func ExampleFormatCUDAVersion() {
	fmt.Println(FormatCUDAVersion(13000), FormatCUDAVersion(12040))
	// Output: 13.0 12.4
}
