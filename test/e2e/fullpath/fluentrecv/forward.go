// Package main is a fluent forward protocol receiver for the end-to-end
// test: it stands where the logging agent (Ops Agent fluent_forward /
// google-fluentd in_forward) listens on 127.0.0.1:24224 and records every
// event it gets as one JSON line, so the test can read what Docker's
// fluentd log driver really sent.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Record is one received event, as written to the output file.
type Record struct {
	Mode   string         `json:"mode"` // message, forward, packed, compressed
	Tag    string         `json:"tag"`
	Time   time.Time      `json:"time"`
	Record map[string]any `json:"record"`
	// AgentTime is the timestamp the agent would give the entry (see
	// agentClock); the forward time without -time-format.
	AgentTime time.Time `json:"agent_time"`
}

// eventTime is the forward protocol's EventTime (ext type 0): big-endian
// seconds and nanoseconds. Docker sends it with fluentd-sub-second-precision.
type eventTime struct{ t time.Time }

func (e *eventTime) UnmarshalMsgpack(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("EventTime ext: %d bytes, want 8", len(b))
	}
	e.t = time.Unix(int64(binary.BigEndian.Uint32(b[:4])), int64(binary.BigEndian.Uint32(b[4:]))).UTC()
	return nil
}

func (e *eventTime) MarshalMsgpack() ([]byte, error) {
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b[:4], uint32(e.t.Unix()))
	binary.BigEndian.PutUint32(b[4:], uint32(e.t.Nanosecond()))
	return b, nil
}

func init() { msgpack.RegisterExt(0, (*eventTime)(nil)) }

// decodeMessage decodes one forward-protocol message (an array) into its
// events and the chunk id to acknowledge ("" when no ack was asked for).
func decodeMessage(dec *msgpack.Decoder) ([]Record, string, error) {
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return nil, "", err
	}
	if n < 2 || n > 4 {
		return nil, "", fmt.Errorf("forward message: array of %d, want 2..4", n)
	}
	tag, err := dec.DecodeString()
	if err != nil {
		return nil, "", fmt.Errorf("forward message tag: %w", err)
	}
	second, err := dec.DecodeInterface()
	if err != nil {
		return nil, "", fmt.Errorf("forward message (tag %s): %w", tag, err)
	}
	rest := make([]any, 0, 2)
	for i := 2; i < n; i++ {
		v, err := dec.DecodeInterface()
		if err != nil {
			return nil, "", fmt.Errorf("forward message (tag %s) element %d: %w", tag, i, err)
		}
		rest = append(rest, v)
	}
	var out []Record
	var option map[string]any
	switch v := second.(type) {
	case []any: // Forward mode: [tag, [[time, record], ...], option?]
		for _, e := range v {
			pair, ok := e.([]any)
			if !ok || len(pair) != 2 {
				return nil, "", fmt.Errorf("forward mode (tag %s): entry %v is not [time, record]", tag, e)
			}
			r, err := newRecord("forward", tag, pair[0], pair[1])
			if err != nil {
				return nil, "", err
			}
			out = append(out, r)
		}
		option = optionOf(rest, 0)
	case string, []byte: // PackedForward: [tag, concatenated entries, option?]
		option = optionOf(rest, 0)
		data := asBytes(v)
		mode := "packed"
		if c, _ := option["compressed"].(string); c == "gzip" {
			mode = "compressed"
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				return nil, "", fmt.Errorf("compressed packed forward (tag %s): %w", tag, err)
			}
			if data, err = io.ReadAll(zr); err != nil {
				return nil, "", fmt.Errorf("compressed packed forward (tag %s): %w", tag, err)
			}
		}
		inner := msgpack.NewDecoder(bytes.NewReader(data))
		for {
			var pair []any
			if err := inner.Decode(&pair); err == io.EOF {
				break
			} else if err != nil {
				return nil, "", fmt.Errorf("packed forward (tag %s): %w", tag, err)
			}
			if len(pair) != 2 {
				return nil, "", fmt.Errorf("packed forward (tag %s): entry of %d, want [time, record]", tag, len(pair))
			}
			r, err := newRecord(mode, tag, pair[0], pair[1])
			if err != nil {
				return nil, "", err
			}
			out = append(out, r)
		}
	default: // Message mode: [tag, time, record, option?]
		if len(rest) == 0 {
			return nil, "", fmt.Errorf("message mode (tag %s): no record", tag)
		}
		r, err := newRecord("message", tag, second, rest[0])
		if err != nil {
			return nil, "", err
		}
		out = append(out, r)
		option = optionOf(rest, 1)
	}
	chunk, _ := option["chunk"].(string)
	return out, chunk, nil
}

func optionOf(rest []any, i int) map[string]any {
	if i < len(rest) {
		if m, ok := rest[i].(map[string]any); ok {
			return m
		}
	}
	return nil
}

func asBytes(v any) []byte {
	if s, ok := v.(string); ok {
		return []byte(s)
	}
	return v.([]byte)
}

func newRecord(mode, tag string, t, rec any) (Record, error) {
	r := Record{Mode: mode, Tag: tag}
	switch v := t.(type) {
	case *eventTime:
		r.Time = v.t
	case eventTime:
		r.Time = v.t
	case int64:
		r.Time = time.Unix(v, 0).UTC()
	case uint64:
		r.Time = time.Unix(int64(v), 0).UTC()
	case int8, int16, int32, uint8, uint16, uint32:
		r.Time = time.Unix(toInt(v), 0).UTC()
	default:
		return r, fmt.Errorf("%s mode (tag %s): time %T is neither an integer nor an EventTime", mode, tag, t)
	}
	m, ok := rec.(map[string]any)
	if !ok {
		return r, fmt.Errorf("%s mode (tag %s): record %T is not a map", mode, tag, rec)
	}
	// Binary values (older fluent loggers send log lines as bin) become text,
	// so the output shows the line exactly as the container wrote it.
	for k, v := range m {
		if b, ok := v.([]byte); ok {
			m[k] = string(b)
		}
	}
	r.Record = m
	return r, nil
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	}
	return 0
}
