//go:build unix

package protocol

import "syscall"

// sysProcAttr puts the runner in a process group of its own, so that a
// timeout kills everything it started. On Linux the runner also gets SIGKILL
// if the engine dies, so an interrupted sweep leaves no orphan holding a GPU.
func sysProcAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	setPdeathsig(a)
	return a
}

func killGroup(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}
