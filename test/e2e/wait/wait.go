// Package wait is the end-to-end tests' one way to wait for a condition, in
// the spirit of Nomad's testutil.WaitForResultUntil (hashicorp/nomad
// v1.10.5, testutil/wait.go): poll, and when time runs out say what was
// last seen instead of sleeping a fixed time and hoping.
package wait

import (
	"errors"
	"fmt"
	"time"
)

// ErrNotYet is what a condition returns while it is simply not met yet and
// has nothing better to say.
var ErrNotYet = errors.New("condition not met")

// For polls test every `every` until it reports done, for at most limit.
// When time runs out it returns test's last error, which should say what
// was seen. A condition that can tell the wait is hopeless fails the test
// itself (t.Fatal) or returns done with the caller checking why.
func For(limit, every time.Duration, test func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		done, err := test()
		if done {
			return nil
		}
		if err == nil {
			err = ErrNotYet
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s: %w", limit, err)
		}
		time.Sleep(every)
	}
}

// Holds checks that test stays true for the whole period d, polled every
// `every`: the negative twin of For (nothing happens while it must not).
func Holds(d, every time.Duration, test func() (bool, error)) error {
	deadline := time.Now().Add(d)
	for {
		ok, err := test()
		if !ok {
			if err == nil {
				err = errors.New("condition broke")
			}
			return err
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(every)
	}
}
