package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// ContractMetaKey is the node meta key through which a client announces the
// contract it was configured for; the jobspec constrains on it.
const ContractMetaKey = "tetranomad_contract"

// Contract is what the jobspec relies on the client config to provide. Its
// hash goes into the client's node meta and the jobspec's constraint, so a job
// only lands on clients configured for it.
type Contract struct {
	BTFVolume      string `json:"btf_volume"`
	LogsVolume     string `json:"logs_volume"`
	BPFFSVolume    string `json:"bpffs_volume"`
	Privileged     bool   `json:"privileged"`
	ForwardAddress string `json:"forward_address"`
}

// Contract derives the contract from a prepared declaration.
func (d *Declaration) Contract() Contract {
	return Contract{
		BTFVolume:      d.HostVolumes.BTF.Name,
		LogsVolume:     d.HostVolumes.Logs.Name,
		BPFFSVolume:    d.HostVolumes.BPFFS.Name,
		Privileged:     true,
		ForwardAddress: d.Logging.ForwardAddress,
	}
}

// Hash is a short, stable digest of the contract: 16 hex characters of the
// sha256 of its JSON (struct field order makes the JSON canonical).
func (c Contract) Hash() string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // a struct of strings and a bool always marshals
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
