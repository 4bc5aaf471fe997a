package hostsetup

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tetranomad/packer-plugin-tetranomad/model"
)

// daemonSettings are the keys tetranomad owns in /etc/docker/daemon.json.
// The script merges them over the existing file (jq's `*`), so other keys
// stay; field order is the order they are written in a new file.
type daemonSettings struct {
	BIP         string `json:"bip"`
	LiveRestore bool   `json:"live-restore"`
	LogDriver   string `json:"log-driver"`
	LogOpts     struct {
		MaxFile string `json:"max-file"`
		MaxSize string `json:"max-size"`
	} `json:"log-opts"`
}

// DaemonJSON renders tetranomad's daemon.json fragment: the bridge address
// from docker.bridge_cidr, json-file log rotation and live-restore. Docker
// wants log-opts values as strings.
func DaemonJSON(d *model.Declaration) ([]byte, error) {
	bip, err := BridgeIP(d.Docker.BridgeCIDR)
	if err != nil {
		return nil, err
	}
	s := daemonSettings{BIP: bip, LiveRestore: d.Docker.LiveRestore == nil || *d.Docker.LiveRestore, LogDriver: "json-file"}
	s.LogOpts.MaxFile = strconv.Itoa(d.Docker.LogMaxFile)
	s.LogOpts.MaxSize = d.Docker.LogMaxSize
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

type opsAgentConfig struct {
	Logging struct {
		Receivers  map[string]opsReceiver  `yaml:"receivers"`
		Processors map[string]opsProcessor `yaml:"processors"`
		Service    struct {
			Pipelines map[string]opsPipeline `yaml:"pipelines"`
		} `yaml:"service"`
	} `yaml:"logging"`
}

type opsReceiver struct {
	Type       string `yaml:"type"`
	ListenHost string `yaml:"listen_host"`
	ListenPort int    `yaml:"listen_port"`
}

type opsProcessor struct {
	Type  string `yaml:"type"`
	Field string `yaml:"field"`
}

type opsPipeline struct {
	Receivers  []string `yaml:"receivers"`
	Processors []string `yaml:"processors"`
}

// Names inside the Ops Agent configuration.
const (
	opsReceiverName  = "tetragon_forward"
	opsProcessorName = "tetragon_json"
	opsPipelineName  = "tetragon"
)

// OpsAgentConfig renders /etc/google-cloud-ops-agent/config.yaml: a
// fluent_forward receiver on logging.forward_address and a parse_json
// processor on Docker's `log` field, so Tetragon's JSON arrives in Cloud
// Logging as jsonPayload fields. The agent merges this with its built-in
// configuration, so the default syslog and metrics pipelines stay.
func OpsAgentConfig(d *model.Declaration) ([]byte, error) {
	host, port, err := splitAddress(d.Logging.ForwardAddress)
	if err != nil {
		return nil, err
	}
	var c opsAgentConfig
	c.Logging.Receivers = map[string]opsReceiver{opsReceiverName: {Type: "fluent_forward", ListenHost: host, ListenPort: port}}
	c.Logging.Processors = map[string]opsProcessor{opsProcessorName: {Type: "parse_json", Field: "log"}}
	c.Logging.Service.Pipelines = map[string]opsPipeline{opsPipelineName: {Receivers: []string{opsReceiverName}, Processors: []string{opsProcessorName}}}
	var buf bytes.Buffer
	buf.WriteString("# Rendered by tetranomad: Tetragon's events arrive from Docker's fluentd log\n")
	buf.WriteString("# driver; parse_json turns their `log` field into structured jsonPayload fields.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// FluentdConfig renders google-fluentd's config.d file: an in_forward
// source on logging.forward_address and a parser filter for Tetragon's tag
// that parses the `log` field as JSON and keeps Docker's other fields.
func FluentdConfig(d *model.Declaration) []byte {
	host, port, _ := splitAddress(d.Logging.ForwardAddress)
	tag := d.Logging.Tag
	var b strings.Builder
	b.WriteString("# Rendered by tetranomad: Tetragon's events arrive from Docker's fluentd log\n")
	b.WriteString("# driver; their `log` field is parsed so Cloud Logging gets structured fields.\n")
	b.WriteString("<source>\n")
	b.WriteString("  @type forward\n")
	fmt.Fprintf(&b, "  bind %s\n", host)
	fmt.Fprintf(&b, "  port %d\n", port)
	b.WriteString("</source>\n\n")
	fmt.Fprintf(&b, "<filter %s %s.**>\n", tag, tag)
	b.WriteString("  @type parser\n")
	b.WriteString("  key_name log\n")
	b.WriteString("  reserve_data true\n")
	b.WriteString("  remove_key_name_field true\n")
	b.WriteString("  <parse>\n")
	b.WriteString("    @type json\n")
	b.WriteString("  </parse>\n")
	b.WriteString("</filter>\n")
	return []byte(b.String())
}

func splitAddress(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("logging.forward_address %q is not host:port", addr)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("logging.forward_address %q has an invalid port", addr)
	}
	return host, port, nil
}
