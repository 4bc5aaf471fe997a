package inputfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.yaml")
	if err := os.WriteFile(ok, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, err := Read(ok, 3); err != nil || string(data) != "abc" {
		t.Fatalf("Read(ok) = %q, %v", data, err)
	}
	if _, err := Read(ok, 2); err == nil || !strings.Contains(err.Error(), "3 bytes, more than the 2") {
		t.Errorf("over the cap: %v", err)
	}
	if _, err := Read(dir, 10); err == nil || !strings.Contains(err.Error(), "not a regular file (a directory)") {
		t.Errorf("directory: %v", err)
	}
	// issue 11 item 5: /dev/zero ran render out of memory, a FIFO hung it.
	if _, err := Read("/dev/zero", 10); err == nil || !strings.Contains(err.Error(), "a device") {
		t.Errorf("/dev/zero: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := Read(fifo, 10); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "a named pipe") {
			t.Errorf("fifo: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read hung on a FIFO")
	}
}
