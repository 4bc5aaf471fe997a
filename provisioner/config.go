//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config

package provisioner

import (
	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
)

// Defaults of the provisioner's own settings.
const (
	DefaultOutputDir = bundle.DefaultDir
	// DefaultExecuteCommand runs the script as root, passing the variables
	// through sudo's environment, like Packer's shell provisioner with sudo.
	DefaultExecuteCommand = "chmod +x {{.Path}}; {{.Vars}} sudo -E {{.Path}}"
	DefaultRemoteFolder   = "/tmp"
)

// Config is the provisioner block: the declaration's blocks (tetragon,
// nomad, host_volumes, docker, logging, policies, publish) exactly as in a
// standalone declaration file, plus where things go.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`
	model.Declaration   `mapstructure:",squash"`

	// Local directory the rendered bundle is written to; the
	// tetranomad-publish post-processor reads it from there. Defaults to
	// `tetranomad-bundle`.
	OutputDir string `mapstructure:"output_dir"`
	// Command that runs the uploaded setup script on the VM. `{{.Path}}` is
	// the script, `{{.Vars}}` the environment it needs (pass it through, the
	// script refuses to run without). Defaults to
	// `chmod +x {{.Path}}; {{.Vars}} sudo -E {{.Path}}`; connecting as root,
	// use `{{.Vars}} bash {{.Path}}`; with a noexec `remote_folder`,
	// `sudo env {{.Vars}} bash {{.Path}}`.
	ExecuteCommand string `mapstructure:"execute_command"`
	// Existing directory on the VM the script is uploaded to, for images
	// whose /tmp is small or mounted noexec. Defaults to `/tmp`.
	RemoteFolder string `mapstructure:"remote_folder"`

	ctx interpolate.Context
}

// ExecuteCommandTemplate is the data execute_command is rendered with.
type ExecuteCommandTemplate struct {
	// Vars are shell assignments, each value single-quoted.
	Vars string
	// Path is the uploaded script.
	Path string
}
