//go:build agents

package hostsetup

// Runs the rendered google-fluentd configuration through real fluentd:
// make test-agents (scripts/test-agents). TETRANOMAD_FLUENTD names a fluentd
// command, e.g. a script running `ruby -I SRC/lib SRC/bin/fluentd "$@"` for
// fluentd v1.16.2 (the version google-fluentd 1.10 bundles) on Debian's
// ruby-* packages. Locally a missing one skips; under CI it fails.

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/tetranomad/packer-plugin-tetranomad/model"
)

func fluentdCommand(t *testing.T) []string {
	t.Helper()
	cmd := os.Getenv("TETRANOMAD_FLUENTD")
	if cmd == "" {
		msg := "fluentd not found: set TETRANOMAD_FLUENTD to a fluentd command (fluentd v1.16.2, see scripts/test-agents)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return strings.Fields(cmd)
}

// eventTime is the forward protocol's EventTime (msgpack ext 0), which
// Docker sends with fluentd-sub-second-precision
// (fluent/fluent-logger-golang@v1.9.0:fluent/proto.go, EventTime).
type eventTime time.Time

func (e eventTime) MarshalMsgpack() ([]byte, error) {
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b[:4], uint32(time.Time(e).Unix()))
	binary.BigEndian.PutUint32(b[4:], uint32(time.Time(e).Nanosecond()))
	return b, nil
}

func (e *eventTime) UnmarshalMsgpack(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("EventTime: %d bytes", len(b))
	}
	*e = eventTime(time.Unix(int64(binary.BigEndian.Uint32(b[:4])), int64(binary.BigEndian.Uint32(b[4:]))))
	return nil
}

func init() { msgpack.RegisterExt(0, (*eventTime)(nil)) }

// dockerRecord is what moby's fluentd driver sends for one line
// (moby/moby@v28.5.2:daemon/logger/fluentd/fluentd.go, Log): every value a
// string, the line in "log", partial_* for a line split at 16 KiB.
func dockerRecord(line string, ordinal int) map[string]string {
	r := map[string]string{"container_id": "0123456789ab", "container_name": "/export-stdout", "source": "stdout", "log": line}
	if ordinal > 0 {
		r["partial_message"], r["partial_id"], r["partial_ordinal"], r["partial_last"] = "true", "p1", fmt.Sprint(ordinal), fmt.Sprint(ordinal > 1)
	}
	return r
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestFluentdStampsTetragonTime(t *testing.T) {
	fluentd := fluentdCommand(t)
	port := freePort(t)
	d := declaration(t, func(d *model.Declaration) {
		d.Logging.Agent = model.AgentGoogleFluentd
		d.Logging.ForwardAddress = fmt.Sprintf("127.0.0.1:%d", port)
	})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tetragon.conf"), FluentdConfig(d), 0o644); err != nil {
		t.Fatal(err)
	}
	// google-fluentd's main file includes config.d; the stdout output stands
	// in for google_cloud and shows the event time fluentd hands it.
	main := `@include tetragon.conf
<match **>
  @type stdout
  <format>
    @type json
  </format>
  <inject>
    time_key fluentd_time
    time_type string
    time_format %Y-%m-%dT%H:%M:%S.%N%z
    utc true
  </inject>
</match>
`
	if err := os.WriteFile(filepath.Join(dir, "fluent.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	// With its supervisor, as google-fluentd runs it (Debian's serverengine
	// 2.2 cannot run fluentd 1.16 without one).
	cmd := exec.Command(fluentd[0], append(fluentd[1:], "-c", filepath.Join(dir, "fluent.conf"), "-q")...)
	cmd.Env = append(os.Environ(), "TZ=UTC", "SERVERENGINE_SOCKETMANAGER_SOCK_DIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The supervisor and its worker: the whole process group.
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(stdout)
		s.Buffer(make([]byte, 1<<20), 1<<20)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()

	var conn net.Conn
	for deadline := time.Now().Add(60 * time.Second); ; {
		if conn, err = net.Dial("tcp", d.Logging.ForwardAddress); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fluentd does not listen on %s: %v\n%s", d.Logging.ForwardAddress, err, drain(lines))
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer conn.Close()

	// Docker's read time is not the event's: an hour later, so a parser that
	// fell back to it is caught.
	read := time.Date(2026, 11, 30, 16, 0, 2, 500_000_000, time.UTC)
	event := `{"process_exec":{"process":{"binary":"/usr/bin/curl"},"policy_name":"p"},"node_name":"n1","time":"` + tetragonTime + `"}`
	// Message mode with integer seconds (sub-second precision off) and with
	// EventTime (on, as the jobspec sets it): fluent-logger-golang@v1.9.0:
	// fluent/fluent.go, EncodeData.
	et := eventTime(read)
	msgs := []any{
		[]any{d.Logging.Tag, read.Unix(), dockerRecord(event, 0), map[string]string{}},
		[]any{d.Logging.Tag, &et, dockerRecord(event, 0), map[string]string{}},
		// The two fragments of a line Docker split at 16 KiB.
		[]any{d.Logging.Tag, &et, dockerRecord(`{"process_exec":{"process":{"bin`, 1), map[string]string{}},
		[]any{d.Logging.Tag, &et, dockerRecord(`ary":"/usr/bin/curl"}}}`, 2), map[string]string{}},
	}
	for _, m := range msgs {
		b, err := msgpack.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}

	var got []map[string]any
	timeout := time.After(60 * time.Second)
	var log strings.Builder
	for len(got) < len(msgs) {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("fluentd exited:\n%s", log.String())
			}
			log.WriteString(l + "\n")
			if !strings.HasPrefix(l, "{") {
				continue
			}
			var r map[string]any
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("%v: %s", err, l)
			}
			got = append(got, r)
		case <-timeout:
			t.Fatalf("fluentd emitted %d of %d events in 60 s:\n%s", len(got), len(msgs), log.String())
		}
	}
	for i, r := range got[:2] {
		if r["fluentd_time"] != "2026-11-30T15:00:01.123456789+0000" {
			t.Errorf("event %d: fluentd's event time %v, want Tetragon's %s (not 1970, not Docker's read time)", i, r["fluentd_time"], tetragonTime)
		}
		if r["time"] != tetragonTime {
			t.Errorf("event %d: keep_time_key lost Tetragon's time field: %v", i, r)
		}
		if pe, ok := r["process_exec"].(map[string]any); !ok || pe["policy_name"] != "p" {
			t.Errorf("event %d: not structured: %v", i, r)
		}
		if _, ok := r["log"]; ok || r["container_id"] != "0123456789ab" {
			t.Errorf("event %d: log not removed or Docker's fields lost: %v", i, r)
		}
	}
	// A fragment of a line over 16 KiB is no JSON: it goes on with Docker's
	// fields and read time, as jsonPayload.log (reserve_data). Yajl, the
	// fallback without Oj, would read the first one as {} and lose it.
	for i, p := range got[2:] {
		if p["partial_message"] != "true" || p["log"] != dockerRecord("", 0)["log"]+fmt.Sprint(msgs[2+i].([]any)[2].(map[string]string)["log"]) || p["fluentd_time"] != "2026-11-30T16:00:02.500000000+0000" {
			t.Errorf("fragment %d: %v, want it kept whole as log, at Docker's read time", i+1, p)
		}
	}
	if !strings.Contains(log.String(), "pattern not matched") {
		t.Errorf("fluentd did not log the unparsed fragment:\n%s", log.String())
	}
}

// drain returns what fluentd printed so far.
func drain(lines <-chan string) string {
	var b strings.Builder
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return b.String()
			}
			b.WriteString(l + "\n")
		default:
			return b.String()
		}
	}
}
