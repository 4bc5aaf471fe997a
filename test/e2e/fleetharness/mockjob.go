package fleetharness

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// MockJobspec turns a rendered Tetragon jobspec into one the mock driver
// runs: every task's driver becomes mock_driver with a config that keeps it
// running, and the task services go (a mock task serves no metrics, so its
// checks could never pass), as do the volume mounts (the mock driver refuses
// them). Everything status judges stays as rendered: the job meta (bundle,
// contract, policy mode), the constraints (kernel, Docker privileged,
// contract), the update block, the group's host volumes (still required of
// a node for placement).
func MockJobspec(jobspec []byte) ([]byte, error) {
	f, diags := hclwrite.ParseConfig(jobspec, "tetragon.nomad.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	tasks := 0
	for _, job := range f.Body().Blocks() {
		for _, g := range job.Body().Blocks() {
			if g.Type() != "group" {
				continue
			}
			for _, task := range g.Body().Blocks() {
				if task.Type() != "task" {
					continue
				}
				tasks++
				b := task.Body()
				b.SetAttributeValue("driver", cty.StringVal("mock_driver"))
				for _, inner := range b.Blocks() {
					if inner.Type() == "config" || inner.Type() == "service" || inner.Type() == "volume_mount" {
						b.RemoveBlock(inner)
					}
				}
				b.AppendNewBlock("config", nil).Body().SetAttributeValue("run_for", cty.StringVal("6h"))
			}
		}
	}
	if tasks == 0 {
		return nil, fmt.Errorf("no task blocks in the jobspec")
	}
	return f.Bytes(), nil
}
