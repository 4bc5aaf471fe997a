package hostsetup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tetranomad/packer-plugin-tetranomad/model"
)

// tetragonTime is a Tetragon event time as its JSON export writes it
// (RFC 3339, nanoseconds, UTC).
const tetragonTime = "2026-11-30T15:00:01.123456789Z"

// The google-fluentd parser must read Tetragon's time as a string with a
// format: fluentd's JSON parser defaults to time_type float
// (fluent/fluentd@v1.16.2:lib/fluent/plugin/parser_json.rb), which reads the
// RFC 3339 string as 2026 seconds after the epoch. agents_test.go runs this
// configuration through real fluentd.
func TestFluentdConfigParsesTetragonTime(t *testing.T) {
	cfg := string(FluentdConfig(declaration(t, func(d *model.Declaration) { d.Logging.Agent = model.AgentGoogleFluentd })))
	parse := cfg[strings.Index(cfg, "<parse>"):strings.Index(cfg, "</parse>")]
	for _, want := range []string{"@type json", "json_parser json", "estimate_current_event false", "time_key time", "time_type string", "time_format %Y-%m-%dT%H:%M:%S.%N%z", "keep_time_key true"} {
		if !strings.Contains(parse, "\n    "+want+"\n") {
			t.Errorf("<parse> lacks %q:\n%s", want, parse)
		}
	}
	// Docker's fields (container_id, partial_message, ...) stay next to
	// Tetragon's, and the filter takes its time from the parser.
	for _, want := range []string{"reserve_data true", "remove_key_name_field true", "key_name log"} {
		if !strings.Contains(cfg, "\n  "+want+"\n") {
			t.Errorf("filter lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(cfg, "reserve_time") {
		t.Error("reserve_time would keep Docker's read time instead of Tetragon's")
	}
}

// FluentdTimeFormat is a strptime layout; Go's reference layout for the same
// string shows what it must accept.
func TestTimeFormatsMatchTetragonsTime(t *testing.T) {
	if _, err := time.Parse(time.RFC3339Nano, tetragonTime); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]string{"fluentd": FluentdTimeFormat, "ops-agent": OpsTimeFormat} {
		if !strings.HasPrefix(f, "%Y-%m-%dT%H:%M:%S.") || !strings.HasSuffix(f, "%z") {
			t.Errorf("%s time format %q does not follow Tetragon's RFC 3339 layout", name, f)
		}
	}
}

// The Ops Agent's parse_json needs time_key and time_format together
// (GoogleCloudPlatform/ops-agent@2.70.0:confgenerator/logging_processors.go,
// ParserShared: required_with); without them the entry keeps the forward
// timestamp, the second Docker read the line.
func TestOpsAgentConfigParsesTetragonTime(t *testing.T) {
	out, err := OpsAgentConfig(declaration(t, func(d *model.Declaration) { d.Logging.ForwardAddress = "127.0.0.1:5170" }))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Logging struct {
			Receivers  map[string]map[string]any
			Processors map[string]map[string]any
			Service    struct {
				Pipelines map[string]map[string][]string
			}
		}
	}
	if err := yaml.Unmarshal(out, &c); err != nil {
		t.Fatal(err)
	}
	r := c.Logging.Receivers[OpsReceiverName]
	if r["type"] != "fluent_forward" || r["listen_host"] != "127.0.0.1" || r["listen_port"] != 5170 {
		t.Errorf("receiver = %v", r)
	}
	p := c.Logging.Processors[OpsProcessorName]
	if p["type"] != "parse_json" || p["field"] != "log" || p["time_key"] != "time" || p["time_format"] != "%Y-%m-%dT%H:%M:%S.%L%z" {
		t.Errorf("processor = %v", p)
	}
	pl := c.Logging.Service.Pipelines[OpsPipelineName]
	if strings.Join(pl["receivers"], ",") != OpsReceiverName || strings.Join(pl["processors"], ",") != OpsProcessorName {
		t.Errorf("pipeline = %v", pl)
	}
}

// python3WithYAML is what the script runs the merge with; CI installs
// python3-yaml, so there a missing one fails instead of skipping.
func python3WithYAML(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(py, "-c", "import yaml").Run()
	}
	if err != nil {
		msg := "python3 with PyYAML not found (apt-get install python3-yaml): " + err.Error()
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return py
}

type mergeRun struct {
	out    []byte
	stderr string
	err    error
}

func runMerge(t *testing.T, py, dir, current string) mergeRun {
	t.Helper()
	d := declaration(t, nil)
	frag, err := OpsAgentConfig(d)
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "merge.py")
	fragment := filepath.Join(dir, "fragment.yaml")
	out := filepath.Join(dir, "out.yaml")
	os.Remove(out)
	if err := os.WriteFile(script, OpsAgentMergeScript, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fragment, frag, 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd := exec.Command(py, script, current, fragment, out, "127.0.0.1", "24224")
	cmd.Stderr = &stderr
	r := mergeRun{err: cmd.Run(), stderr: stderr.String()}
	r.out, _ = os.ReadFile(out)
	return r
}

func TestOpsAgentMerge(t *testing.T) {
	py := python3WithYAML(t)
	frag, _ := OpsAgentConfig(declaration(t, nil))
	userConfig := `# my agent
logging:
  receivers:
    syslog:
      type: files
      include_paths: [/var/log/messages]
  service:
    log_level: info
    pipelines:
      default_pipeline:
        receivers: [syslog]
metrics:
  receivers:
    hostmetrics:
      type: hostmetrics
      collection_interval: 60s
`
	cases := []struct {
		name, current string
		missing       bool
		// wantFragment: the result is the rendered file byte for byte.
		wantFragment bool
		wantErr      string
	}{
		{name: "no file", missing: true, wantFragment: true},
		// The package ships a file of comments only.
		{name: "package default", current: "# <== Enter custom agent configurations in this file.\n# See https://cloud.google.com/stackdriver/docs/solutions/agents/ops-agent/configuration\n", wantFragment: true},
		{name: "already ours", current: string(frag), wantFragment: true},
		{name: "user config", current: userConfig},
		{name: "not a mapping", current: "- a\n- b\n", wantErr: "is a YAML list, not a mapping; fix or remove it"},
		{name: "bad yaml", current: "logging: [\n", wantErr: "is not valid YAML"},
		{name: "receivers not a mapping", current: "logging:\n  receivers: [a]\n", wantErr: "logging.receivers is a list, not a mapping"},
		{name: "second forward receiver", current: "logging:\n  receivers:\n    mine:\n      type: fluent_forward\n      listen_host: 127.0.0.1\n      listen_port: 24224\n",
			wantErr: "receiver mine in "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			current := filepath.Join(dir, "config.yaml")
			if !c.missing {
				if err := os.WriteFile(current, []byte(c.current), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := runMerge(t, py, dir, current)
			if c.wantErr != "" {
				if r.err == nil || !strings.Contains(r.stderr, c.wantErr) || !strings.Contains(r.stderr, current) {
					t.Fatalf("err = %v, stderr %q; want an error naming %s with %q", r.err, r.stderr, current, c.wantErr)
				}
				if r.out != nil {
					t.Errorf("an output was written after the error:\n%s", r.out)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("merge: %v: %s", r.err, r.stderr)
			}
			if c.wantFragment {
				if string(r.out) != string(frag) {
					t.Errorf("merged file is not the rendered one:\n%s", r.out)
				}
				return
			}
			var got map[string]any
			if err := yaml.Unmarshal(r.out, &got); err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			_ = yaml.Unmarshal([]byte(userConfig), &want)
			var ours map[string]any
			_ = yaml.Unmarshal(frag, &ours)
			// Every user key stays as it was, and tetranomad's are added.
			lg, wlg, olg := got["logging"].(map[string]any), want["logging"].(map[string]any), ours["logging"].(map[string]any)
			if !equalYAML(got["metrics"], want["metrics"]) || !equalYAML(lg["receivers"].(map[string]any)["syslog"], wlg["receivers"].(map[string]any)["syslog"]) {
				t.Errorf("user keys changed:\n%s", r.out)
			}
			svc, wsvc := lg["service"].(map[string]any), wlg["service"].(map[string]any)
			if svc["log_level"] != "info" || !equalYAML(svc["pipelines"].(map[string]any)["default_pipeline"], wsvc["pipelines"].(map[string]any)["default_pipeline"]) {
				t.Errorf("user service settings changed:\n%s", r.out)
			}
			for _, k := range []struct{ section, name string }{{"receivers", OpsReceiverName}, {"processors", OpsProcessorName}} {
				if !equalYAML(lg[k.section].(map[string]any)[k.name], olg[k.section].(map[string]any)[k.name]) {
					t.Errorf("%s.%s is not tetranomad's:\n%s", k.section, k.name, r.out)
				}
			}
			if !equalYAML(svc["pipelines"].(map[string]any)[OpsPipelineName], olg["service"].(map[string]any)["pipelines"].(map[string]any)[OpsPipelineName]) {
				t.Errorf("pipeline %s is not tetranomad's:\n%s", OpsPipelineName, r.out)
			}
			// A second run changes nothing, so the agent is not restarted.
			if err := os.WriteFile(current, r.out, 0o644); err != nil {
				t.Fatal(err)
			}
			again := runMerge(t, py, dir, current)
			if again.err != nil || string(again.out) != string(r.out) {
				t.Errorf("second merge differs (err %v):\n%s\nfirst:\n%s", again.err, again.out, r.out)
			}
		})
	}
}

func equalYAML(a, b any) bool {
	x, _ := yaml.Marshal(a)
	y, _ := yaml.Marshal(b)
	return a != nil && string(x) == string(y)
}

// Every payload file the script installs has its place on the VM; only the
// script's own helpers stay behind.
func TestHostFiles(t *testing.T) {
	helpers := map[string]bool{requirementsFile: true, opsAgentMergeFile: true}
	wantPaths := map[string][]string{
		"defaults": {"/etc/docker/daemon.json", "/etc/google-cloud-ops-agent/config.yaml", "/etc/nomad.d/tetragon.hcl", "/etc/systemd/system/nomad.service.d/tetranomad.conf"},
		"e2e":      {"/etc/docker/daemon.json", "/etc/nomad.d/client.hcl", "/etc/nomad.d/tetragon.hcl", "/etc/systemd/system/nomad.service", "/etc/systemd/system/nomad.service.d/tetranomad.conf"},
		"fluentd":  {"/etc/docker/daemon.json", "/etc/google-fluentd/config.d/tetragon.conf", "/etc/nomad/tetra-gon.hcl", "/etc/systemd/system/nomad.service.d/tetranomad.conf"},
	}
	for name, in := range goldenCases(t) {
		p, err := Render(in)
		if err != nil {
			t.Fatal(err)
		}
		files, err := HostFiles(in)
		if err != nil {
			t.Fatal(err)
		}
		byData := map[string]File{}
		installed := 0
		for _, f := range p.Files {
			if !helpers[f.Name] {
				installed++
				byData[string(f.Data)] = f
			}
		}
		var paths []string
		for _, f := range files {
			paths = append(paths, f.Path)
			if pf, ok := byData[string(f.Data)]; !ok || pf.Mode != f.Mode {
				t.Errorf("%s: %s is not a payload file with its mode", name, f.Path)
			}
		}
		if len(files) != installed {
			t.Errorf("%s: %d host files for %d installed payload files", name, len(files), installed)
		}
		if strings.Join(paths, " ") != strings.Join(wantPaths[name], " ") {
			t.Errorf("%s: host files %v, want %v", name, paths, wantPaths[name])
		}
	}
}
