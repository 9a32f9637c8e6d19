package proctest

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// Pty opens a pseudo-terminal for a test: a program given term as its
// output writes to a terminal, and what it writes comes out of ctl byte
// for byte (output processing is off: no \n turned into \r\n). Both are
// closed when the test ends.
func Pty(t testing.TB) (ctl, term *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	var unlock int32
	if err := ioctl(ctl, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	var n uint32
	if err := ioctl(ctl, syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	term, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { term.Close() })
	var tio syscall.Termios
	if err := ioctl(term, syscall.TCGETS, unsafe.Pointer(&tio)); err != nil {
		t.Fatalf("tcgetattr: %v", err)
	}
	tio.Oflag &^= syscall.OPOST
	if err := ioctl(term, syscall.TCSETS, unsafe.Pointer(&tio)); err != nil {
		t.Fatalf("tcsetattr: %v", err)
	}
	return ctl, term
}

func ioctl(f *os.File, req uint, arg unsafe.Pointer) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), uintptr(req), uintptr(arg)); e != 0 {
		return e
	}
	return nil
}
