package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:24224", "TCP address to listen on")
	out := flag.String("out", "", "file to append one JSON line per received event to (required)")
	timeKey := flag.String("time-key", "time", "field of the JSON in `log` that holds the event time")
	timeFormat := flag.String("time-format", "", "strptime format of that field, as the agent's parser has it; empty keeps the forward time")
	flag.Parse()
	if *out == "" {
		log.Fatal("fluentrecv: -out FILE is required")
	}
	clock, err := newAgentClock(*timeKey, *timeFormat)
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("fluentrecv: listening on %s, recording to %s", ln.Addr(), *out)
	w := &recorder{f: f, clock: clock}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			if err := serve(c, w); err != nil {
				log.Printf("fluentrecv: %s: %v", c.RemoteAddr(), err)
			}
		}()
	}
}

// recorder appends records and syncs each one, so a test reading the file
// sees every event acknowledged so far even if the receiver is killed.
type recorder struct {
	mu    sync.Mutex
	f     *os.File
	clock agentClock
}

func (r *recorder) write(recs []Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		r.clock.stamp(&rec)
		line, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if _, err := r.f.Write(append(line, '\n')); err != nil {
			return err
		}
	}
	return r.f.Sync()
}

// serve reads forward-protocol messages from one connection until EOF,
// answering {"ack": chunk} when the sender asked for it.
func serve(c net.Conn, w *recorder) error {
	defer c.Close()
	dec := msgpack.NewDecoder(c)
	enc := msgpack.NewEncoder(c)
	for {
		recs, chunk, err := decodeMessage(dec)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := w.write(recs); err != nil {
			return fmt.Errorf("recording: %w", err)
		}
		if chunk != "" {
			if err := enc.Encode(map[string]string{"ack": chunk}); err != nil {
				return err
			}
		}
	}
}
