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
	Type       string `yaml:"type"`
	Field      string `yaml:"field"`
	TimeKey    string `yaml:"time_key"`
	TimeFormat string `yaml:"time_format"`
}

type opsPipeline struct {
	Receivers  []string `yaml:"receivers"`
	Processors []string `yaml:"processors"`
}

// Names inside the Ops Agent configuration: the only keys tetranomad owns
// there. The agent names the log "<receiver>.<tag>" (tetragon_forward.tetragon).
const (
	OpsReceiverName  = "tetragon_forward"
	OpsProcessorName = "tetragon_json"
	OpsPipelineName  = "tetragon"
)

// Tetragon's "time" is RFC 3339 with nanoseconds in UTC,
// e.g. "2026-11-30T15:00:01.123456789Z".
const (
	// OpsTimeFormat is Fluent Bit's strptime: %L takes the fraction of a
	// second, %z takes "Z". Google's own app receivers use the same layout
	// (GoogleCloudPlatform/ops-agent@2.70.0:apps/cassandra.go).
	OpsTimeFormat = "%Y-%m-%dT%H:%M:%S.%L%z"
	// FluentdTimeFormat is fluentd's (the strptime gem, or Ruby's
	// Time.strptime): %N takes the fraction, %z takes "Z"
	// (fluent/fluentd@v1.16.2:lib/fluent/time.rb, TimeParser).
	FluentdTimeFormat = "%Y-%m-%dT%H:%M:%S.%N%z"
	// TimeKey is the field of Tetragon's JSON that carries the event time.
	TimeKey = "time"
)

// OpsAgentConfig renders the part of /etc/google-cloud-ops-agent/config.yaml
// that tetranomad owns: a fluent_forward receiver on logging.forward_address
// and a parse_json processor on Docker's `log` field, so Tetragon's JSON
// arrives in Cloud Logging as jsonPayload fields. The script merges it into
// the existing file (see OpsAgentMergeScript); the agent merges the result
// with its built-in configuration, so the default syslog and metrics
// pipelines stay.
//
// time_key/time_format make Tetragon's own time the LogEntry timestamp:
// without them parse_json keeps the forward timestamp, the moment Docker
// read the line. parse_json requires both or neither
// (GoogleCloudPlatform/ops-agent@2.70.0:confgenerator/logging_processors.go,
// ParserShared) and, like Fluent Bit's parser, removes time_key from the
// payload once it parsed it; an unparsable time keeps the field and the
// forward timestamp. The Ops Agent's own engine (2.70.0, MergeConfFiles and
// GenerateFluentBitConfigs) accepts this file, alone and merged, and turns it
// into a forward input on the address and a Fluent Bit JSON parser on `log`
// with this Time_Key and Time_Format.
func OpsAgentConfig(d *model.Declaration) ([]byte, error) {
	host, port, err := splitAddress(d.Logging.ForwardAddress)
	if err != nil {
		return nil, err
	}
	var c opsAgentConfig
	c.Logging.Receivers = map[string]opsReceiver{OpsReceiverName: {Type: "fluent_forward", ListenHost: host, ListenPort: port}}
	c.Logging.Processors = map[string]opsProcessor{OpsProcessorName: {Type: "parse_json", Field: "log", TimeKey: TimeKey, TimeFormat: OpsTimeFormat}}
	c.Logging.Service.Pipelines = map[string]opsPipeline{OpsPipelineName: {Receivers: []string{OpsReceiverName}, Processors: []string{OpsProcessorName}}}
	var buf bytes.Buffer
	buf.WriteString("# Rendered by tetranomad: Tetragon's events arrive from Docker's fluentd log\n")
	buf.WriteString("# driver; parse_json turns their `log` field into structured jsonPayload fields\n")
	buf.WriteString("# and Tetragon's `time` into the entry's timestamp. tetranomad owns only the\n")
	buf.WriteString("# receiver, processor and pipeline named here; other keys in this file are kept.\n")
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
//
// The JSON parser's defaults are time_key "time" and time_type float
// (fluent/fluentd@v1.16.2:lib/fluent/plugin/parser_json.rb): Tetragon's
// RFC 3339 string would read as its year in seconds, 1970-01-01T00:33:46Z,
// which Cloud Logging drops as too old. time_type string with the format
// parses it, keep_time_key leaves it in jsonPayload too, and the filter
// (reserve_time false) stamps the event with it
// (fluent/fluentd@v1.16.2:lib/fluent/plugin/filter_parser.rb).
//
// json_parser json: without Oj fluentd falls back to Yajl, whose load
// returns {} for the first fragment of a line Docker split at 16 KiB
// (`{"process_exec":{"pro`), so the fragment vanished, stamped with the
// current time. Ruby's JSON refuses it, and the filter keeps it as `log`
// with Docker's fields (reserve_data). estimate_current_event false: an
// event without `time` keeps Docker's read time, not the moment of parsing.
func FluentdConfig(d *model.Declaration) []byte {
	host, port, _ := splitAddress(d.Logging.ForwardAddress)
	tag := d.Logging.Tag
	var b strings.Builder
	b.WriteString("# Rendered by tetranomad: Tetragon's events arrive from Docker's fluentd log\n")
	b.WriteString("# driver; their `log` field is parsed so Cloud Logging gets structured fields,\n")
	b.WriteString("# stamped with Tetragon's own `time`.\n")
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
	b.WriteString("    json_parser json\n")
	fmt.Fprintf(&b, "    time_key %s\n", TimeKey)
	b.WriteString("    time_type string\n")
	fmt.Fprintf(&b, "    time_format %s\n", FluentdTimeFormat)
	b.WriteString("    keep_time_key true\n")
	b.WriteString("    estimate_current_event false\n")
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
