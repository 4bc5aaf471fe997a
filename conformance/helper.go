package conformance

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Helper is the process a case runs in: the runner starts itself with the
// helper arguments (in fresh namespaces for a container case), the helper
// waits for "go" on stdin (the runner sets up its network first), runs the
// setup commands it is given, then does the action and exits 0. Being killed
// is the only way to fail a "killed" case; a refused or timed-out connect is
// an allowed one. A file that does not exist is neither: no hook saw an
// access, so the case could not run (exit 2, an error in the report).
//
// args: ACTION-WORDS... [-- SETUP-COMMAND ; SETUP-COMMAND ...]
func Helper(args []string) int {
	var setup []string
	for i, a := range args {
		if a == "--" {
			setup = strings.Split(strings.Join(args[i+1:], " "), " ; ")
			args = args[:i]
			break
		}
	}
	act, err := ParseAction(strings.Join(args, " "))
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance helper:", err)
		return 2
	}
	if line, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil || strings.TrimSpace(line) != "go" {
		fmt.Fprintln(os.Stderr, "conformance helper: the runner did not say go")
		return 2
	}
	for _, c := range setup {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		f := strings.Fields(c)
		if out, err := exec.Command(f[0], f[1:]...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "conformance helper: setup %q: %v: %s\n", c, err, out)
			return 2
		}
	}
	switch act.Kind {
	case "connect":
		var err error
		if act.Network == "tcp6" {
			err = dialDualStack(act.Addr, 2*time.Second)
		} else {
			var conn net.Conn
			if conn, err = net.DialTimeout(act.Network, act.Addr.String(), 2*time.Second); err == nil {
				conn.Close()
			}
		}
		fmt.Printf("connect %s: %v\n", act.Addr, err)
	case "open":
		// Open and read: a read is what security_file_permission (MAY_READ)
		// sees; an open alone only reaches security_file_open and fd_install.
		f, err := os.Open(act.Path)
		if err == nil {
			_, err = f.Read(make([]byte, 1))
			if err == io.EOF {
				err = nil
			}
			f.Close()
		}
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "conformance helper: %v: the case needs the file to exist where it runs\n", err)
			return 2
		}
		fmt.Printf("open %s: %v\n", act.Path, err)
	case "write":
		f, err := os.OpenFile(act.Path, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteString("conformance\n")
			f.Close()
		}
		fmt.Printf("write %s: %v\n", act.Path, err)
	case "exec":
		// The runner put a copy of /bin/true named act.Path on PATH.
		p, err := exec.LookPath(act.Path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "conformance helper:", err)
			return 2
		}
		err = syscall.Exec(p, []string{act.Path}, os.Environ())
		fmt.Printf("exec %s: %v\n", act.Path, err)
	}
	return 0
}

// dialDualStack connects an AF_INET6 socket with IPV6_V6ONLY off, as a
// dual-stack client (curl, most language runtimes) does, so a v4-mapped
// address (::ffff:a.b.c.d) goes out as IPv4 through tcp_connect. Go's net
// cannot do this: "tcp6" refuses a v4-mapped address ("no suitable address
// found") before any socket exists, and sets IPV6_V6ONLY anyway. A refused or
// timed-out connect is not an error the runner cares about; it is returned.
func dialDualStack(ap netip.AddrPort, timeout time.Duration) error {
	fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer syscall.Close(fd)
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 0); err != nil {
		return fmt.Errorf("IPV6_V6ONLY: %w", err)
	}
	// A blocking connect gives up after SO_SNDTIMEO (EINPROGRESS).
	tv := syscall.NsecToTimeval(timeout.Nanoseconds())
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv); err != nil {
		return fmt.Errorf("SO_SNDTIMEO: %w", err)
	}
	sa := &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	if err := syscall.Connect(fd, sa); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	return nil
}
