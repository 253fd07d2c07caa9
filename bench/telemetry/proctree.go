package telemetry

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// ParseStat parses the content of /proc/<pid>/stat and returns the process
// id and its parent's id. The command name (field 2) is in parentheses and
// may itself hold spaces and parentheses, so the fields after it are found
// from the last ')'.
func ParseStat(b []byte) (pid, ppid int, err error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 1 || closing < open {
		return 0, 0, errors.New("stat: no '(comm)' field")
	}
	pid, err = strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil || pid < 0 {
		return 0, 0, fmt.Errorf("stat: field 1 (pid) %q is not a process id", bytes.TrimSpace(b[:open]))
	}
	rest := bytes.Fields(b[closing+1:])
	if len(rest) < 2 {
		return 0, 0, errors.New("stat: missing fields 3 (state) and 4 (ppid)")
	}
	ppid, err = strconv.Atoi(string(rest[1]))
	if err != nil || ppid < 0 {
		return 0, 0, fmt.Errorf("stat: field 4 (ppid) %q is not a process id", rest[1])
	}
	return pid, ppid, nil
}

// Descendants walks the process table under procRoot (normally "/proc") and
// returns root and every process descended from it. Processes that vanish
// while the table is read are skipped. The error is non-nil only when the
// table itself cannot be listed; root is then still in the set.
func Descendants(procRoot string, root int) (map[int]bool, error) {
	set := map[int]bool{root: true}
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return set, fmt.Errorf("process table %s: %w", procRoot, err)
	}
	children := make(map[int][]int, len(entries))
	for _, e := range entries {
		name := e.Name()
		if name == "" || name[0] < '0' || name[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procRoot, name, "stat"))
		if err != nil {
			continue // exited meanwhile, or not a process directory
		}
		pid, ppid, err := ParseStat(b)
		if err != nil || strconv.Itoa(pid) != name {
			continue
		}
		children[ppid] = append(children[ppid], pid)
	}
	stack := []int{root}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range children[p] {
			if !set[c] {
				set[c] = true
				stack = append(stack, c)
			}
		}
	}
	return set, nil
}

// processName returns the command name of pid from procRoot, or "" when it
// cannot be read (another PID namespace, an exited process).
func processName(procRoot string, pid uint32) string {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.FormatUint(uint64(pid), 10), "comm"))
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}

// pidClassifier sorts NVML's process ids into the runner's tree and the
// rest. It walks the process table only when NVML shows a PID it has not
// classified before, so a steady state costs two map look-ups a process.
type pidClassifier struct {
	procRoot string
	root     int
	ours     map[uint32]bool
	foreign  map[uint32]bool
	walks    int
	walkErr  error
}

func newPIDClassifier(procRoot string, root int) *pidClassifier {
	c := &pidClassifier{procRoot: procRoot, root: root, ours: map[uint32]bool{}, foreign: map[uint32]bool{}}
	if root > 0 {
		c.ours[uint32(root)] = true
	}
	return c
}

// isOurs reports whether pid is the runner or one of its descendants.
func (c *pidClassifier) isOurs(pid uint32) bool {
	if c.ours[pid] {
		return true
	}
	if c.foreign[pid] {
		return false
	}
	if c.root > 0 {
		c.walks++
		set, err := Descendants(c.procRoot, c.root)
		if err != nil && c.walkErr == nil {
			c.walkErr = err
		}
		for p := range set {
			if p > 0 {
				c.ours[uint32(p)] = true
			}
		}
		if c.ours[pid] {
			return true
		}
	}
	c.foreign[pid] = true
	return false
}
