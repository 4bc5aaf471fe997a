package model

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestEmptyDeclarationGetsWorkingDefaults(t *testing.T) {
	d, err := Parse("empty.hcl", nil)
	if err != nil {
		t.Fatalf("empty declaration: %v", err)
	}
	checks := map[string][2]any{
		"tetragon image":  {d.Tetragon.Image, "quay.io/cilium/tetragon:v1.7.0"},
		"export image":    {d.Tetragon.ExportImage, "quay.io/cilium/hubble-export-stdout:v1.2.0"},
		"host pid":        {*d.Tetragon.HostPID, true},
		"btf volume":      {d.HostVolumes.BTF, HostVolume{"tetragon-btf", "/sys/kernel/btf/vmlinux"}},
		"logs volume":     {d.HostVolumes.Logs, HostVolume{"tetragon-logs", "/var/log/tetragon"}},
		"docker bridge":   {d.Docker.BridgeCIDR, "172.17.0.0/16"},
		"live restore":    {*d.Docker.LiveRestore, true},
		"agent":           {d.Logging.Agent, "ops-agent"},
		"forward address": {d.Logging.ForwardAddress, "127.0.0.1:24224"},
		"library":         {d.Policies.Library, []string{"log-file-access", "log-tcp-connect"}},
		"datacenters":     {d.Nomad.Datacenters, []string{"*"}},
		"job node pool":   {d.Nomad.NodePool, "all"},
		"nomad install":   {d.Nomad.Install, "hashicorp-apt"},
		"base config off": {d.Nomad.Base.Enabled, false},
		"no bucket":       {d.Publish.Bucket, ""},
		"prefix":          {d.Publish.Prefix, "tetranomad"},
		"nomad bridge":    {d.Nomad.BridgeNetworkSubnet, "172.26.64.0/20"},
		"nomad version":   {d.Nomad.Version, "2.0.5"},
		"docker repo":     {d.Repositories.Docker, Repository{URL: "https://download.docker.com/linux/{os_id}", KeyURL: "https://download.docker.com/linux/{os_id}/gpg", KeyFingerprint: "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"}},
		"hashicorp repo":  {d.Repositories.HashiCorp, Repository{URL: "https://apt.releases.hashicorp.com", KeyURL: "https://apt.releases.hashicorp.com/gpg", KeyFingerprint: "798AEC654E5C15428C8E42EEAA16FCBCA621E701"}},
		"google repo":     {d.Repositories.Google, Repository{URL: "https://packages.cloud.google.com/apt", KeyURL: "https://packages.cloud.google.com/apt/doc/apt-key.gpg", KeyFingerprint: "35BAA0B33E9EB396F59CA838C0BA5CE6DC6315A3"}},
		// A mirror's key is where the vendor keeps it, under the mirror.
		"mirror key url":    {mustParse(t, "repositories {\n  google {\n    url = \"https://af.example.com/artifactory/google-apt/\"\n  }\n}\n").Repositories.Google.KeyURL, "https://af.example.com/artifactory/google-apt/doc/apt-key.gpg"},
		"image follows tag": {mustParse(t, "tetragon {\n  version = \"v1.8.2\"\n}\n").Tetragon.Image, "quay.io/cilium/tetragon:v1.8.2"},
	}
	for name, c := range checks {
		if !reflect.DeepEqual(c[0], c[1]) {
			t.Errorf("%s = %#v, want %#v", name, c[0], c[1])
		}
	}
}

func TestExplicitEmptyLibraryShipsNoPolicies(t *testing.T) {
	d := mustParse(t, "policies {\n  library = []\n}\n")
	if len(d.Policies.Library) != 0 {
		t.Fatalf("library = %v, want none", d.Policies.Library)
	}
}

func TestApplyDefaultsIsIdempotent(t *testing.T) {
	var a Declaration
	a.ApplyDefaults()
	b := a
	b.ApplyDefaults()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("second ApplyDefaults changed the declaration")
	}
}

// Each bad declaration yields exactly these errors, in line order.
func TestBadDeclarations(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"wrong type", "tetragon {\n  cpu = \"lots\"\n}\n",
			[]string{`d.hcl:2: tetragon.cpu: Incorrect attribute value type: Inappropriate value for attribute "cpu": a number is required.`}},
		{"unknown attribute", "docker {\n  bridge = \"x\"\n}\n",
			[]string{`d.hcl:2: docker.bridge: Unsupported argument: An argument named "bridge" is not expected here.`}},
		{"unknown block", "tetragonn {\n}\n",
			[]string{`d.hcl:1: tetragonn: Unsupported block type: Blocks of type "tetragonn" are not expected here. Did you mean "tetragon"?`}},
		{"syntax error", "tetragon {\n  version = \n}\n",
			[]string{`d.hcl:2: (syntax): Invalid expression: Expected the start of an expression, but found an invalid expression token.`}},
		{"bad cidr", "docker {\n  bridge_cidr = \"172.17.0.0/33\"\n}\n",
			[]string{`d.hcl:2: docker.bridge_cidr: "172.17.0.0/33" is not a CIDR range like "172.17.0.0/16"`}},
		{"cidr with host bits", "docker {\n  bridge_cidr = \"172.17.0.1/16\"\n}\n",
			[]string{`d.hcl:2: docker.bridge_cidr: "172.17.0.1/16" has host bits set; did you mean "172.17.0.0/16"?`}},
		{"bridge overlaps vpc", "docker {\n  bridge_cidr = \"10.200.0.0/16\"\n}\n",
			[]string{`d.hcl:2: docker.bridge_cidr: 10.200.0.0/16 overlaps the VPC range 10.128.0.0/9 in policies.vpc_cidrs; containers could not reach it`}},
		{"relative path", "host_volumes {\n  logs {\n    path = \"var/log/tetragon\"\n  }\n}\n",
			[]string{`d.hcl:3: host_volumes.logs.path: "var/log/tetragon" must be an absolute, clean path such as "/var/log/tetragon"`}},
		{"clashing volume names", "host_volumes {\n  logs {\n    name = \"tetragon-btf\"\n  }\n}\n",
			[]string{`d.hcl:3: host_volumes.logs.name: "tetragon-btf" is also host_volumes.btf.name; every host volume needs its own name`}},
		{"old tetragon", "tetragon {\n  version = \"v1.1.0\"\n}\n",
			[]string{`d.hcl:2: tetragon.version: v1.1.0 is older than the minimum supported v1.7.0`}},
		{"managed flag", "tetragon {\n  extra_args = [\"--enable-process-cred\", \"--export-filename=/tmp/x\"]\n}\n",
			[]string{`d.hcl:2: tetragon.extra_args[1]: --export-filename is managed by tetranomad; set tetragon.export_filename instead`}},
		// A missing attribute is reported at its block.
		{"binary without source", "nomad {\n  install = \"binary\"\n}\n",
			[]string{
				`d.hcl:1: nomad.binary_sha256: required when nomad.install is "binary", so a wrong binary is never installed`,
				`d.hcl:1: nomad.binary_source: required when nomad.install is "binary": the local path of a nomad binary`,
			}},
		{"enum", "logging {\n  agent = \"fluent-bit\"\n}\n",
			[]string{`d.hcl:2: logging.agent: "fluent-bit" is not one of "ops-agent", "google-fluentd", "none"`}},
		{"forward address not loopback", "logging {\n  forward_address = \"10.0.0.5:24224\"\n}\n",
			[]string{`d.hcl:2: logging.forward_address: "10.0.0.5:24224" is not a loopback address; the agent's forward receiver must not listen beyond the VM`}},
		// Docker's driver joins host and port with ":"; see validateLogging.
		{"forward address IPv6", "logging {\n  forward_address = \"[::1]:24224\"\n}\n",
			[]string{`d.hcl:2: logging.forward_address: "[::1]:24224" is not IPv4: Docker's fluentd driver cannot dial an IPv6 address ("too many colons in address"); use an IPv4 loopback address such as "127.0.0.1:24224"`}},
		{"forward address without port", "logging {\n  forward_address = \"127.0.0.1\"\n}\n",
			[]string{`d.hcl:2: logging.forward_address: "127.0.0.1" is not address:port, e.g. "127.0.0.1:24224"`}},
		{"buffer limit", "logging {\n  buffer_limit = -5\n}\n",
			[]string{`d.hcl:2: logging.buffer_limit: -5 is not a positive number of events`}},
		{"every problem at once", "docker {\n  source = \"podman\"\n  log_max_file = -1\n}\npolicies {\n  vpc_cidrs = [\"10.0.0.0/8\", \"nope\"]\n}\npublish {\n  bucket = \"Bad_Bucket\"\n}\n",
			[]string{
				`d.hcl:2: docker.source: "podman" is not one of "docker-ce", "distro", "preinstalled"`,
				`d.hcl:3: docker.log_max_file: -1 must be greater than 0`,
				`d.hcl:6: policies.vpc_cidrs[1]: "nope" is not a CIDR range like "172.17.0.0/16"`,
				`d.hcl:9: publish.bucket: "Bad_Bucket" is not a valid GCS bucket name: 'B' is not allowed; use lowercase letters, digits, '-', '_' and '.' (give the name without gs://)`,
			}},
		{"library names", "policies {\n  library = [\n    \"log-tcp-connect\",\n    \"block-crypto-miners\",\n    \"log-tcp-connect\",\n  ]\n}\n",
			[]string{
				`d.hcl:4: policies.library[1]: "block-crypto-miners" is not a library policy; choose from "block-fd-install", "block-internet-egress", "block-package-managers", "log-file-access", "log-tcp-connect", "protect-nginx-html"`,
				`d.hcl:5: policies.library[2]: "log-tcp-connect" is listed twice`,
			}},
		{"repositories", "repositories {\n  docker {\n    url = \"ftp://mirror/docker\"\n    key_fingerprint = \"0EBFCD88\"\n  }\n  google {\n    key = \"mQENBFUd6rIBCAD6\"\n  }\n}\n",
			[]string{
				`d.hcl:2: repositories.docker.key_url: "ftp://mirror/docker/gpg" is not an http, https or file URL`,
				`d.hcl:3: repositories.docker.url: "ftp://mirror/docker" is not an http, https or file URL`,
				`d.hcl:4: repositories.docker.key_fingerprint: "0EBFCD88" is not a key fingerprint (40 hex digits, spaces allowed)`,
				`d.hcl:7: repositories.google.key: is not an ASCII-armored public key (-----BEGIN PGP PUBLIC KEY BLOCK-----); export it with gpg --armor --export`,
			}},
		{"canary before nomad 1.11", "nomad {\n  version = \"1.10.5\"\n  canary_percent = 10\n}\n",
			[]string{`d.hcl:3: nomad.canary_percent: system-job canaries need Nomad 1.11.0 or later and nomad.version is "1.10.5"; older servers ignore canary and update every client. Set nomad.version to your servers' version, or remove canary_percent`}},
		{"canary not a percentage", "nomad {\n  version = \"1.11.3\"\n  canary_percent = 101\n  max_parallel = -1\n}\n",
			[]string{
				`d.hcl:3: nomad.canary_percent: 101 is not a percentage; use 1 to 100, or 0 for no canaries`,
				`d.hcl:4: nomad.max_parallel: -1 must be greater than 0`,
			}},
		{"policy mode", "policies {\n  mode = \"audit\"\n}\n",
			[]string{`d.hcl:2: policies.mode: "audit" is not one of "enforce", "monitor"`}},
		{"base config", "nomad {\n  base_config {\n    enabled = true\n    node_pool = \"all\"\n    data_dir = \"data\"\n  }\n}\n",
			[]string{
				`d.hcl:4: nomad.base_config.node_pool: "all" is not a node pool a client can join`,
				`d.hcl:5: nomad.base_config.data_dir: "data" must be an absolute, clean path such as "/var/log/tetragon"`,
			}},
		// issue 11 item 9: numbers went through float64 without bounds.
		{"huge integer", "tetragon {\n  memory_mb = 9223372036854775807\n}\n",
			[]string{`d.hcl:2: tetragon.memory_mb: 9223372036854775807 is out of range (at most 2147483647)`}},
		{"integer beyond float64 precision", "tetragon {\n  cpu = 9007199254740993\n}\n",
			[]string{`d.hcl:2: tetragon.cpu: 9007199254740993 is out of range (at most 2147483647)`}},
		{"fraction", "tetragon {\n\n  cpu = 1.5\n}\n",
			[]string{`d.hcl:3: tetragon.cpu: 1.5 is not a whole number`}},
		{"above the attribute's bound", "tetragon {\n  memory_mb = 2000000\n}\ndocker {\n  log_max_file = 100000\n}\n",
			[]string{
				`d.hcl:2: tetragon.memory_mb: 2000000 is more than 1048576; check the unit`,
				`d.hcl:5: docker.log_max_file: 100000 is more than 10000; check the unit`,
			}},
		// issue 11 items 4 and 8: control characters, prefixes and URLs.
		{"armored key: newlines only", "repositories {\n  google {\n    key = \"-----BEGIN PGP PUBLIC KEY BLOCK-----\\r\\nabc\\n-----END PGP PUBLIC KEY BLOCK-----\\n\"\n  }\n}\n",
			[]string{`d.hcl:3: repositories.google.key: "-----BEGIN PGP PUBLIC KEY BLOCK-----\r\nabc\n-----END PGP PUBLIC KEY BLOCK-----\n" holds the control character U+000D; remove it (only newlines belong here)`}},
		{"control characters anywhere", "nomad {\n  datacenters = [\"dc1\\r\", \"dc 2\"]\n}\nhost_volumes {\n  logs {\n    path = \"/var/log/t\\u0000x\"\n  }\n}\n",
			[]string{
				`d.hcl:2: nomad.datacenters[0]: "dc1\r" holds the control character U+000D; remove it (no value here needs one)`,
				`d.hcl:2: nomad.datacenters[0]: "dc1\r" is not a Nomad datacenter name or pattern (letters, digits, '_', '-', '.', '*', at most 128)`,
				`d.hcl:2: nomad.datacenters[1]: "dc 2" is not a Nomad datacenter name or pattern (letters, digits, '_', '-', '.', '*', at most 128)`,
				`d.hcl:6: host_volumes.logs.path: "/var/log/t\x00x" holds the control character U+0000; remove it (no value here needs one)`,
			}},
		{"prefix and base URL", "publish {\n  bucket = \"b-1\"\n  prefix = \".\"\n  public = true\n  download_base_url = \"https://cdn.example.com/a b?x#y\"\n}\n",
			[]string{
				`d.hcl:3: publish.prefix: prefix ".": empty, '.' or '..' path segments are not allowed, nor a leading or trailing '/'`,
				`d.hcl:5: publish.download_base_url: "https://cdn.example.com/a b?x#y" is not an http(s) base URL such as "https://storage.googleapis.com": ' ' is not allowed`,
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("d.hcl", []byte(c.src))
			var fe FileErrors
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v (%T), want FileErrors", err, err)
			}
			got := strings.Split(fe.Error(), "\n")
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// logging.tag is a Docker log tag (a Go template), a fluentd match pattern
// (".", "*", "**", "{a,b}" are special) and the end of the Cloud Logging log
// ID ([A-Za-z0-9/_.-], under 512 characters): only what all three take literally.
func TestLoggingTagAlphabet(t *testing.T) {
	for _, ok := range []string{"tetragon", "security.tetragon", "a/b_c-d.e", "T1", strings.Repeat("t", 256)} {
		if _, err := Parse("d.hcl", []byte("logging {\n  tag = \""+ok+"\"\n}\n")); err != nil {
			t.Errorf("tag %q: %v", ok, err)
		}
	}
	for _, bad := range []string{"{{.Name}}", "tetragon.*", "tetragon.**", "a..b", ".tetragon", "tetragon.", "a b", "tétragon", "a:b", "{a,b}", strings.Repeat("t", 257)} {
		_, err := Parse("d.hcl", []byte("logging {\n  tag = \""+strings.ReplaceAll(bad, "\"", "")+"\"\n}\n"))
		if err == nil || !strings.Contains(err.Error(), "logging.tag: ") || !strings.Contains(err.Error(), "Cloud Logging log name") {
			t.Errorf("tag %q: err = %v, want a logging.tag problem", bad, err)
		}
	}
}

func TestGoogleFluentdWarnsWithItsEndOfSupport(t *testing.T) {
	if ws := mustParse(t, "").Warnings(); len(ws) != 0 {
		t.Errorf("the default declaration warns: %v", ws)
	}
	ws := mustParse(t, "logging {\n  agent = \"google-fluentd\"\n}\n").Warnings()
	if len(ws) != 1 || ws[0].Path != "logging.agent" || !strings.Contains(ws[0].Message, GoogleFluentdEndOfSupport) || !strings.Contains(ws[0].Message, `"ops-agent"`) {
		t.Errorf("warnings = %v, want one on logging.agent naming %s and the Ops Agent", ws, GoogleFluentdEndOfSupport)
	}
}

func TestRelativePolicyFilesResolveAgainstTheDeclaration(t *testing.T) {
	d, err := Parse(filepath.Join("conf", "d.hcl"), []byte("policies {\n  files = [\"p/a.yaml\", \"/abs/b.yaml\"]\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join("conf", "p", "a.yaml"), "/abs/b.yaml"}
	if !reflect.DeepEqual(d.Policies.Files, want) {
		t.Fatalf("files = %v, want %v", d.Policies.Files, want)
	}
}

func TestContractHashFollowsTheSharedNames(t *testing.T) {
	base := mustParse(t, "")
	same := mustParse(t, "tetragon {\n  cpu = 900\n}\n")
	renamed := mustParse(t, "host_volumes {\n  logs {\n    name = \"tlogs\"\n  }\n}\n")
	moved := mustParse(t, "logging {\n  forward_address = \"127.0.0.1:24225\"\n}\n")
	if base.Contract().Hash() != same.Contract().Hash() {
		t.Error("a setting outside the contract changed its hash")
	}
	for name, d := range map[string]*Declaration{"volume name": renamed, "forward address": moved} {
		if d.Contract().Hash() == base.Contract().Hash() {
			t.Errorf("changing the %s left the contract hash unchanged", name)
		}
	}
	if h := base.Contract().Hash(); len(h) != 16 {
		t.Errorf("hash %q is not 16 hex characters", h)
	}
}

func mustParse(t *testing.T, src string) *Declaration {
	t.Helper()
	d, err := Parse("t.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return d
}
