//go:build !linux

package main

import (
	"errors"
	"os"
)

// openTUN: the benchmark peer runs on Linux only.
func openTUN(name string) (*os.File, error) {
	return nil, errors.New("benchpeer: a TUN device is only opened on Linux")
}
