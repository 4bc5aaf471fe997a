//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"time"
)

// errNotYet is what a wait condition returns while it is simply not met yet
// and has nothing better to say.
var errNotYet = errors.New("condition not met")

// waitFor polls test every `every` until it reports done, for at most limit:
// the e2e tests' one wait, in the spirit of Nomad's testutil.WaitForResultUntil
// (hashicorp/nomad v1.10.5, testutil/wait.go). When time runs out it returns
// test's last error, which should say what was seen. A condition that can
// tell the wait is hopeless calls t.Fatal itself.
func waitFor(limit, every time.Duration, test func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		done, err := test()
		if done {
			return nil
		}
		if err == nil {
			err = errNotYet
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s: %w", limit, err)
		}
		time.Sleep(every)
	}
}

// holdsFor checks that test stays true for the whole period d, polled every
// `every`: the negative twin of waitFor (nothing happens while it must not).
func holdsFor(d, every time.Duration, test func() (bool, error)) error {
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
