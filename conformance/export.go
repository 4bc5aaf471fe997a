package conformance

import (
	"bufio"
	"encoding/json"
	"io"
)

// Event is what the runner reads from one line of Tetragon's export file
// (JSON, one GetEventsResponse per line; the kprobe events are
// process_kprobe: cilium/tetragon@v1.7.0 api/v1/tetragon/events.proto,
// tetragon.proto ProcessKprobe).
type Event struct {
	Policy   string `json:"policy_name"`
	Function string `json:"function_name"`
	Action   string `json:"action"`
	PID      uint32
	Binary   string
}

type exportLine struct {
	ProcessKprobe *struct {
		Process struct {
			PID    uint32 `json:"pid"`
			Binary string `json:"binary"`
		} `json:"process"`
		PolicyName   string `json:"policy_name"`
		FunctionName string `json:"function_name"`
		Action       string `json:"action"`
	} `json:"process_kprobe"`
}

// ReadEvents returns the kprobe events of an export file. Lines that are not
// kprobe events are skipped; a line that is not JSON is an error (the file
// would then not be Tetragon's export).
func ReadEvents(r io.Reader) ([]Event, error) {
	var out []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var l exportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return out, err
		}
		if k := l.ProcessKprobe; k != nil {
			out = append(out, Event{Policy: k.PolicyName, Function: k.FunctionName, Action: k.Action, PID: k.Process.PID, Binary: k.Process.Binary})
		}
	}
	return out, sc.Err()
}

// Matching returns the events of policy from pid (for any function when
// function is "").
func Matching(events []Event, policy string, pid uint32, function string) []Event {
	var out []Event
	for _, e := range events {
		if e.Policy == policy && e.PID == pid && (function == "" || e.Function == function) {
			out = append(out, e)
		}
	}
	return out
}
