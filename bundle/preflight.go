package bundle

// Preflight is what the provisioner's preflight found on the VM the image was
// built from, before it changed anything. The setup script writes it as JSON
// (field names below are that contract) and the provisioner stores it in
// build.json, so a bundle directory says which kernel its policies were
// checked against without that changing the bundle.
type Preflight struct {
	OS PreflightOS `json:"os"`
	// Arch in Debian's naming: "amd64" or "arm64".
	Arch string `json:"arch"`
	// KernelRelease is `uname -r`.
	KernelRelease string `json:"kernel_release"`
	// BTF is true when /sys/kernel/btf/vmlinux exists.
	BTF bool `json:"btf"`
	// KernelConfigSource is the file the kernel config was read from
	// (/boot/config-<release> or /proc/config.gz); empty when neither exists,
	// and then every KernelConfig value is empty too.
	KernelConfigSource string       `json:"kernel_config_source"`
	KernelConfig       KernelConfig `json:"kernel_config"`
	// LSMs are the active Linux security modules from
	// /sys/kernel/security/lsm; empty when securityfs is not readable.
	LSMs []string `json:"lsms"`
	// Policies has one entry per selected TracingPolicy, in bundle order.
	Policies []PreflightPolicy `json:"policies"`
	// Errors are the reasons the preflight failed; empty when it passed.
	Errors []string `json:"errors"`
}

// PreflightOS is from /etc/os-release.
type PreflightOS struct {
	ID         string `json:"id"`
	VersionID  string `json:"version_id"`
	PrettyName string `json:"pretty_name"`
}

// KernelConfig holds the kernel options Tetragon's features depend on. Each
// value is "y", "m", "n" (not set), or "" when no kernel config was found.
type KernelConfig struct {
	BPFLSM            string `json:"CONFIG_BPF_LSM"`
	BPFKprobeOverride string `json:"CONFIG_BPF_KPROBE_OVERRIDE"`
	DebugInfoBTF      string `json:"CONFIG_DEBUG_INFO_BTF"`
}

// PreflightPolicy is what one policy needs and whether this kernel has it.
type PreflightPolicy struct {
	Policy        string            `json:"policy"`
	File          string            `json:"file"`
	NeedsOverride bool              `json:"needs_override"`
	Symbols       []PreflightSymbol `json:"symbols"`
	OK            bool              `json:"ok"`
}

// PreflightSymbol is one kernel function a policy hooks. FoundAs is the
// /proc/kallsyms name it was found under (a syscall gains its architecture
// prefix, e.g. "__x64_sys_openat"); empty when it is missing.
type PreflightSymbol struct {
	Symbol  string `json:"symbol"`
	FoundAs string `json:"found_as"`
}
