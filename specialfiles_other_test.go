//go:build !unix

package optim

import "errors"

var errNoSpecialFiles = errors.New("no named pipes or device nodes on this system")

func mkfifo(string) error    { return errNoSpecialFiles }
func mknodNull(string) error { return errNoSpecialFiles }
