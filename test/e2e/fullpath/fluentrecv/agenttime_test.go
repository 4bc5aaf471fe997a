package main

import (
	"testing"
	"time"

	"github.com/tetranomad/packer-plugin-tetranomad/hostsetup"
)

// The receiver reads Tetragon's time with the formats the agents are
// configured with, to the nanosecond; anything else keeps the forward time.
func TestAgentClock(t *testing.T) {
	forward := time.Date(2026, 11, 30, 16, 0, 2, 0, time.UTC)
	want := time.Date(2026, 11, 30, 15, 0, 1, 123456789, time.UTC)
	for _, format := range []string{hostsetup.OpsTimeFormat, hostsetup.FluentdTimeFormat} {
		c, err := newAgentClock(hostsetup.TimeKey, format)
		if err != nil {
			t.Fatal(err)
		}
		for line, wantTime := range map[string]time.Time{
			`{"process_exec":{},"time":"2026-11-30T15:00:01.123456789Z"}`:     want,
			`{"process_exec":{},"time":"2026-11-30T16:00:01.123456789+0100"}`: want,
			`{"process_exec":{},"time":2026}`:                                 forward,
			`{"process_exec":{"pro`:                                           forward,
		} {
			r := Record{Time: forward, Record: map[string]any{"log": line}}
			c.stamp(&r)
			if !r.AgentTime.Equal(wantTime) {
				t.Errorf("%s: %s gives %s, want %s", format, line, r.AgentTime, wantTime)
			}
		}
	}
	if _, err := newAgentClock("time", "%Y %j"); err == nil {
		t.Error("an unsupported directive was accepted")
	}
	c, _ := newAgentClock("time", "")
	r := Record{Time: forward, Record: map[string]any{"log": `{"time":"2026-11-30T15:00:01Z"}`}}
	c.stamp(&r)
	if !r.AgentTime.Equal(forward) {
		t.Errorf("without a format the agent time is %s, want the forward time", r.AgentTime)
	}
}
