package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// agentClock stamps a record with the time the logging agent would give the
// entry: the record's `log` parsed as JSON, its time key parsed with the
// agent's strptime format, as the Ops Agent's parse_json does; when the line
// is no JSON or the key does not parse, the forward timestamp stays
// (GoogleCloudPlatform/ops-agent@2.70.0:confgenerator/logging_processors.go,
// ParserShared.TimestampStatements: "preserving the existing field if the
// time is unparsable").
type agentClock struct {
	key    string
	layout string // Go layout of the strptime format; "" keeps forward times
}

// strptimeLayouts are the directives tetranomad's agent formats use.
var strptimeLayouts = map[byte]string{
	'Y': "2006", 'm': "01", 'd': "02", 'H': "15", 'M': "04", 'S': "05",
	// Fluent Bit's %L and fluentd's %N: a fraction of any length, right
	// after the seconds and a ".", which Go's parser accepts unasked.
	'L': "", 'N': "",
	// "Z" or a numeric offset.
	'z': "Z0700",
}

func newAgentClock(key, format string) (agentClock, error) {
	if format == "" {
		return agentClock{}, nil
	}
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			b.WriteByte(format[i])
			continue
		}
		if i+1 == len(format) {
			return agentClock{}, fmt.Errorf("time format %q ends in %%", format)
		}
		i++
		l, ok := strptimeLayouts[format[i]]
		if !ok {
			return agentClock{}, fmt.Errorf("time format %q: %%%c is not supported", format, format[i])
		}
		if l == "" && strings.HasSuffix(b.String(), ".") {
			s := b.String()
			b.Reset()
			b.WriteString(s[:len(s)-1])
		}
		b.WriteString(l)
	}
	return agentClock{key: key, layout: b.String()}, nil
}

func (c agentClock) stamp(r *Record) {
	r.AgentTime = r.Time
	if c.layout == "" {
		return
	}
	line, _ := r.Record["log"].(string)
	var ev map[string]any
	if json.Unmarshal([]byte(line), &ev) != nil {
		return
	}
	s, _ := ev[c.key].(string)
	if t, err := time.Parse(c.layout, s); err == nil {
		r.AgentTime = t.UTC()
	}
}
