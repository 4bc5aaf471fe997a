package provisioner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// call is one communicator call, kept with everything it was given.
type call struct {
	Op      string // start, upload, upload-dir, download, download-dir
	Command string // start
	Path    string // upload, download
	Data    []byte // upload: every byte read
	Mode    os.FileMode
}

func (c call) String() string {
	switch c.Op {
	case "start":
		return "start " + c.Command
	case "upload":
		return fmt.Sprintf("upload %s (%d bytes, %v)", c.Path, len(c.Data), c.Mode)
	}
	return c.Op + " " + c.Path
}

// recordingComm is a packersdk.Communicator that keeps every call, unlike
// the SDK's MockCommunicator, which keeps only the last of each kind.
// Commands either get a scripted response (respond) or, with local set,
// really run with bash -c on this machine, uploads landing in and
// downloads coming from the local file system: a VM that is this host.
type recordingComm struct {
	mu    sync.Mutex
	calls []call

	// respond scripts what a started command prints, how it exits (-1:
	// never), or that it cannot start at all. nil: exit 0, no output.
	respond func(command string) (stdout string, exit int, err error)
	// uploadErr fails every upload.
	uploadErr error
	// files serve downloads by path when not local.
	files map[string][]byte

	local    bool
	localEnv []string
}

var _ packersdk.Communicator = new(recordingComm)

func (c *recordingComm) record(k call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, k)
}

func (c *recordingComm) Calls() []call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]call(nil), c.calls...)
}

func (c *recordingComm) Start(ctx context.Context, cmd *packersdk.RemoteCmd) error {
	c.record(call{Op: "start", Command: cmd.Command})
	if c.local {
		sh := exec.CommandContext(ctx, "bash", "-c", cmd.Command)
		sh.Env = c.localEnv
		sh.Stdout, sh.Stderr = writerOr(cmd.Stdout), writerOr(cmd.Stderr)
		if err := sh.Start(); err != nil {
			return err
		}
		go func() {
			err := sh.Wait()
			var exit *exec.ExitError
			switch {
			case err == nil:
				cmd.SetExited(0)
			case errors.As(err, &exit):
				cmd.SetExited(exit.ExitCode())
			default:
				cmd.SetExited(packersdk.CmdDisconnect)
			}
		}()
		return nil
	}
	stdout, status := "", 0
	if c.respond != nil {
		var err error
		stdout, status, err = c.respond(cmd.Command)
		if err != nil {
			return err
		}
	}
	go func() {
		// Packet-sized writes that split lines, as an SSH channel does.
		w := writerOr(cmd.Stdout)
		for data := []byte(stdout); len(data) > 0; {
			n := min(7, len(data))
			w.Write(data[:n])
			data = data[n:]
		}
		if status >= 0 { // -1: the command never ends
			cmd.SetExited(status)
		}
	}()
	return nil
}

func writerOr(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func (c *recordingComm) Upload(path string, r io.Reader, fi *os.FileInfo) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	k := call{Op: "upload", Path: path, Data: data}
	if fi != nil {
		k.Mode = (*fi).Mode()
	}
	c.record(k)
	if c.uploadErr != nil {
		return c.uploadErr
	}
	if c.local {
		return os.WriteFile(path, data, 0o600)
	}
	return nil
}

func (c *recordingComm) UploadDir(dst, src string, exclude []string) error {
	c.record(call{Op: "upload-dir", Path: dst})
	return errors.New("recordingComm: UploadDir is not used by tetranomad")
}

func (c *recordingComm) Download(path string, w io.Writer) error {
	c.record(call{Op: "download", Path: path})
	var data []byte
	if c.local {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return err
		}
	} else {
		var ok bool
		if data, ok = c.files[path]; !ok {
			return fmt.Errorf("scp: %s: No such file or directory", path)
		}
	}
	_, err := io.Copy(w, bytes.NewReader(data))
	return err
}

func (c *recordingComm) DownloadDir(src, dst string, exclude []string) error {
	c.record(call{Op: "download-dir", Path: src})
	return errors.New("recordingComm: DownloadDir is not used by tetranomad")
}

// recordingUI keeps every line in order, with its kind.
type recordingUI struct {
	packersdk.MockUi
	mu    sync.Mutex
	lines []string
}

func (u *recordingUI) add(kind, msg string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.lines = append(u.lines, kind+": "+msg)
}

func (u *recordingUI) Say(msg string)               { u.add("say", msg) }
func (u *recordingUI) Sayf(f string, args ...any)   { u.add("say", fmt.Sprintf(f, args...)) }
func (u *recordingUI) Message(msg string)           { u.add("message", msg) }
func (u *recordingUI) Error(msg string)             { u.add("error", msg) }
func (u *recordingUI) Errorf(f string, args ...any) { u.add("error", fmt.Sprintf(f, args...)) }
func (u *recordingUI) Machine(string, ...string)    {}
func (u *recordingUI) Ask(string) (string, error)   { return "", errors.New("no input in tests") }
func (u *recordingUI) Askf(string, ...any) (string, error) {
	return "", errors.New("no input in tests")
}

func (u *recordingUI) Text() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return strings.Join(u.lines, "\n")
}
