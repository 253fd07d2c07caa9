//go:build unix && !linux

package protocol

import "syscall"

func setPdeathsig(*syscall.SysProcAttr) {}
