// Package hostsetuptest gives tests a fake VM to run the rendered setup
// script against, for real, without root: a fake root for the files the
// preflight reads (TETRANOMAD_TEST_ROOT) and a PATH that holds only the
// tools the script may use plus stubs for uname and dpkg-query, so the
// host's own kernel and packages do not leak in.
package hostsetuptest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Release is the fake kernel release.
const Release = "6.1.0-28-cloud-amd64"

// realTools are linked into the fake PATH.
var realTools = []string{"bash", "sed", "awk", "tar", "gzip", "mktemp", "grep", "chown", "chmod",
	"dirname", "tail", "cat", "rm", "mkdir", "cmp", "stat", "sha256sum", "id", "env"}

// VM is a fake Debian 12 amd64 VM whose kernel has BTF and BPF LSM but not
// CONFIG_BPF_KPROBE_OVERRIDE, like Debian's cloud kernel.
type VM struct {
	Root string
	// Machine and Release are what the uname stub prints for -m and -r.
	Machine, Release string
	// Installed packages, as dpkg-query reports them (version 1.0-1).
	Installed []string
	// Commands present on PATH as stubs that succeed (jq, curl, dockerd, ...).
	Commands []string
	// Real are more of the host's tools linked into the fake PATH (curl,
	// gpg), for tests that need them to work.
	Real []string

	bin string
}

// New makes the VM. Its kallsyms has a few syscalls (with the x86 prefix),
// security_file_permission, bpf_lsm_bprm_check_security and a module symbol.
func New(t testing.TB) *VM {
	t.Helper()
	vm := &VM{Root: t.TempDir(), bin: t.TempDir(), Machine: "x86_64", Release: Release, Commands: []string{"jq"}}
	vm.Write(t, "etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n")
	vm.Write(t, "proc/kallsyms", Kallsyms(
		"_stext", "__x64_sys_openat", "__x64_sys_write", "security_file_permission",
		"bpf_lsm_bprm_check_security", "security_file_permission.cold",
	)+"ffffffffc0100000 t nf_conntrack_in\t[nf_conntrack]\n")
	vm.Write(t, "boot/config-"+Release, "CONFIG_BPF=y\nCONFIG_BPF_LSM=y\n# CONFIG_BPF_KPROBE_OVERRIDE is not set\nCONFIG_DEBUG_INFO_BTF=y\nCONFIG_DEBUG_INFO_BTF_MODULES=y\n")
	vm.Write(t, "sys/kernel/btf/vmlinux", "BTF")
	vm.Write(t, "sys/kernel/security/lsm", "lockdown,capability,landlock,yama,apparmor,bpf")
	vm.Mkdir(t, "sys/fs/bpf")
	vm.Mkdir(t, "run/systemd/system")
	return vm
}

// Kallsyms formats symbols as /proc/kallsyms lines.
func Kallsyms(symbols ...string) string {
	var b strings.Builder
	for _, s := range symbols {
		b.WriteString("ffffffff81000000 T " + s + "\n")
	}
	return b.String()
}

// Write creates a file under the fake root.
func (vm *VM) Write(t testing.TB, rel, content string) {
	t.Helper()
	p := filepath.Join(vm.Root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Mkdir creates a directory under the fake root.
func (vm *VM) Mkdir(t testing.TB, rel string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(vm.Root, rel), 0o755); err != nil {
		t.Fatal(err)
	}
}

// Remove deletes a path under the fake root.
func (vm *VM) Remove(t testing.TB, rel string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(vm.Root, rel)); err != nil {
		t.Fatal(err)
	}
}

// Env is the environment to run the script in: the fake PATH (built now,
// from the VM's current settings) and the fake root.
func (vm *VM) Env(t testing.TB) []string {
	t.Helper()
	for _, tool := range append(append([]string(nil), realTools...), vm.Real...) {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("%s not found: the script runs with the real tool", tool)
		}
		if err := os.Symlink(p, filepath.Join(vm.bin, tool)); err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatal(err)
		}
	}
	stub := func(name, body string) {
		if err := os.WriteFile(filepath.Join(vm.bin, name), []byte("#!"+filepath.Join(vm.bin, "bash")+"\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stub("uname", "case $1 in -r) echo "+vm.Release+";; -m) echo "+vm.Machine+";; *) exit 2;; esac\n")
	// dpkg-query -W -f=FORMAT PACKAGE: "installed" or "1.0-1" for the
	// installed packages, exit 1 for the others.
	stub("dpkg-query", "pkg=${!#}\ncase \" "+strings.Join(vm.Installed, " ")+" \" in\n"+
		"  *\" $pkg \"*) if [[ $2 == *Version* ]]; then printf 1.0-1; else printf installed; fi ;;\n"+
		"  *) echo \"dpkg-query: no packages found matching $pkg\" >&2; exit 1 ;;\nesac\n")
	for _, c := range vm.Commands {
		stub(c, "exit 0\n")
	}
	return []string{"PATH=" + vm.bin, "TETRANOMAD_TEST_ROOT=" + vm.Root}
}

// Bash is the bash on the fake PATH (valid after Env).
func (vm *VM) Bash() string { return filepath.Join(vm.bin, "bash") }
