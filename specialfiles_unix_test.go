//go:build unix

package optim

import "syscall"

// mkfifo makes a named pipe at path.
func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }

// mknodNull makes a character device node at path with /dev/null's
// numbers (1, 3 on Linux): it needs root.
func mknodNull(path string) error {
	var st syscall.Stat_t
	if err := syscall.Stat("/dev/null", &st); err != nil {
		return err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFCHR {
		return syscall.ENODEV
	}
	return syscall.Mknod(path, syscall.S_IFCHR|0o600, int(st.Rdev))
}
