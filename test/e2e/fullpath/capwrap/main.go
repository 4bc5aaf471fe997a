// Command capwrap is an OCI runtime wrapper for the end-to-end target only:
// before `runc create|run`, it removes from the container's capability sets
// every capability that is not in the wrapper's own bounding set, then execs
// the real runc.
//
// Why: this machine's root lacks CAP_SYS_RESOURCE in its bounding set, so a
// privileged container (Docker asks for every capability the kernel knows)
// cannot start: capset(2) refuses a capability the process cannot hold.
// Docker's `privileged` grants more than capabilities (all devices, no
// seccomp/AppArmor, rw /sys); only the capability sets are trimmed, and
// only by what the machine cannot grant anyway. Each trim is logged.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// capNames in capability-number order (linux/capability.h).
var capNames = []string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
	"LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
	"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

const logFile = "/var/log/capwrap.log"

func main() {
	runc := "/usr/sbin/runc"
	if _, err := os.Stat(runc); err != nil {
		runc = "/usr/bin/runc"
	}
	if bundle := bundleArg(os.Args[1:]); bundle != "" {
		if err := trim(filepath.Join(bundle, "config.json")); err != nil {
			fmt.Fprintf(os.Stderr, "capwrap: %v\n", err)
			os.Exit(1)
		}
	}
	err := syscall.Exec(runc, append([]string{runc}, os.Args[1:]...), os.Environ())
	fmt.Fprintf(os.Stderr, "capwrap: exec %s: %v\n", runc, err)
	os.Exit(1)
}

// bundleArg finds --bundle/-b of `create` or `run`.
func bundleArg(args []string) string {
	cmd := false
	for i, a := range args {
		switch {
		case a == "create" || a == "run":
			cmd = true
		case cmd && (a == "--bundle" || a == "-b") && i+1 < len(args):
			return args[i+1]
		case cmd && strings.HasPrefix(a, "--bundle="):
			return strings.TrimPrefix(a, "--bundle=")
		}
	}
	return ""
}

func boundingSet() (uint64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapBnd in /proc/self/status")
}

func trim(configPath string) error {
	bnd, err := boundingSet()
	if err != nil {
		return err
	}
	allowed := map[string]bool{}
	for i, n := range capNames {
		allowed["CAP_"+n] = bnd&(1<<uint(i)) != 0
	}
	data, err := os.ReadFile(configPath)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("%s: %w", configPath, err)
	}
	proc, _ := spec["process"].(map[string]any)
	caps, _ := proc["capabilities"].(map[string]any)
	dropped := map[string]bool{}
	for set, v := range caps {
		list, _ := v.([]any)
		kept := make([]any, 0, len(list))
		for _, c := range list {
			name, _ := c.(string)
			if ok, known := allowed[name]; known && !ok {
				dropped[name] = true
				continue
			}
			kept = append(kept, c)
		}
		caps[set] = kept
	}
	if len(dropped) == 0 {
		return nil
	}
	out, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(configPath, out, 0o644); err != nil {
		return err
	}
	if f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
		names := make([]string, 0, len(dropped))
		for n := range dropped {
			names = append(names, n)
		}
		fmt.Fprintf(f, "%s %s: dropped %s (not in bounding set %x)\n", time.Now().UTC().Format(time.RFC3339), configPath, strings.Join(names, ","), bnd)
		f.Close()
	}
	return nil
}
