package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Each of the protocol's modes, sent over a real connection, must come out
// as records with the tag, time and fields that went in; an ack is answered
// with the chunk id the sender gave.
func TestServeAllModes(t *testing.T) {
	out := filepath.Join(t.TempDir(), "records.jsonl")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	client, server := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- serve(server, &recorder{f: f}) }()

	t0 := time.Unix(1700000000, 0).UTC()
	et := &eventTime{t: time.Unix(1700000001, 123456789).UTC()}
	enc := msgpack.NewEncoder(client)
	entry := func(tm any, log string) []byte {
		b, err := msgpack.Marshal([]any{tm, map[string]any{"log": []byte(log)}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(entry(t0.Unix(), "z1"))
	zw.Close()
	send := func(v any) {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		send([]any{"tag.msg", t0.Unix(), map[string]any{"log": "m1"}})
		send([]any{"tag.ack", et, map[string]any{"log": "m2"}, map[string]any{"chunk": "abc"}})
		send([]any{"tag.fwd", []any{[]any{t0.Unix(), map[string]any{"log": "f1"}}, []any{et, map[string]any{"log": "f2"}}}})
		send([]any{"tag.packed", append(entry(t0.Unix(), "p1"), entry(et, "p2")...)})
		send([]any{"tag.gz", gz.Bytes(), map[string]any{"compressed": "gzip"}})
	}()
	var ack map[string]string
	if err := msgpack.NewDecoder(client).Decode(&ack); err != nil || ack["ack"] != "abc" {
		t.Fatalf("ack = %v, %v; want {ack: abc}", ack, err)
	}
	time.Sleep(100 * time.Millisecond)
	client.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, r.Mode+" "+r.Tag+" "+r.Time.Format(time.RFC3339Nano)+" "+r.Record["log"].(string))
	}
	want := []string{
		"message tag.msg 2023-11-14T22:13:20Z m1",
		"message tag.ack 2023-11-14T22:13:21.123456789Z m2",
		"forward tag.fwd 2023-11-14T22:13:20Z f1",
		"forward tag.fwd 2023-11-14T22:13:21.123456789Z f2",
		"packed tag.packed 2023-11-14T22:13:20Z p1",
		"packed tag.packed 2023-11-14T22:13:21.123456789Z p2",
		"compressed tag.gz 2023-11-14T22:13:20Z z1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDecodeRejectsNonArray(t *testing.T) {
	b, _ := msgpack.Marshal(map[string]any{"not": "a message"})
	if _, _, err := decodeMessage(msgpack.NewDecoder(bytes.NewReader(b))); err == nil {
		t.Fatal("a map was accepted as a forward message")
	}
}
