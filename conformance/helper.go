package conformance

import (
	"bufio"
	"fmt"
	"net"
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
// an allowed one.
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
		conn, err := net.DialTimeout(act.Network, act.Addr.String(), 2*time.Second)
		if err == nil {
			conn.Close()
		}
		fmt.Printf("connect %s: %v\n", act.Addr, err)
	case "open":
		f, err := os.Open(act.Path)
		if err == nil {
			f.Close()
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
