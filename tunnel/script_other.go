//go:build !unix

package tunnel

import "os/exec"

// ownProcessGroup: without process groups, the timeout kills the script
// only (exec.CommandContext's default).
func ownProcessGroup(*exec.Cmd) {}
