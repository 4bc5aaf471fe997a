package model

// RoleVolume is a host volume with its role. The role fixes whether the job
// mounts it read-only: BTF is only read; Tetragon writes its export file into
// logs and pins maps in bpffs.
type RoleVolume struct {
	Role string // "btf", "logs", "bpffs": the block under host_volumes and the jobspec's volume label
	HostVolume
	ReadOnly bool
}

// Roles lists the host volumes in a fixed order; the client config, the
// jobspec and validation all walk this one list.
func (v HostVolumes) Roles() []RoleVolume {
	return []RoleVolume{
		{Role: "btf", HostVolume: v.BTF, ReadOnly: true},
		{Role: "logs", HostVolume: v.Logs, ReadOnly: false},
		{Role: "bpffs", HostVolume: v.BPFFS, ReadOnly: false},
	}
}
