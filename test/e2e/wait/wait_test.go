package wait

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestForReturnsWhenDone(t *testing.T) {
	n := 0
	if err := For(time.Second, time.Millisecond, func() (bool, error) { n++; return n == 3, nil }); err != nil || n != 3 {
		t.Fatalf("err=%v after %d polls, want nil after 3", err, n)
	}
}

func TestForSaysWhatItLastSaw(t *testing.T) {
	err := For(20*time.Millisecond, time.Millisecond, func() (bool, error) { return false, errors.New("status pending") })
	if err == nil || !strings.Contains(err.Error(), "status pending") || !strings.Contains(err.Error(), "not within 20ms") {
		t.Fatalf("err = %v", err)
	}
	err = For(5*time.Millisecond, time.Millisecond, func() (bool, error) { return false, nil })
	if !errors.Is(err, ErrNotYet) {
		t.Fatalf("err = %v, want ErrNotYet", err)
	}
}

func TestHolds(t *testing.T) {
	if err := Holds(10*time.Millisecond, time.Millisecond, func() (bool, error) { return true, nil }); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := Holds(time.Second, time.Millisecond, func() (bool, error) { n++; return n < 3, errors.New("2 records arrived") })
	if err == nil || err.Error() != "2 records arrived" {
		t.Fatalf("err = %v", err)
	}
}
