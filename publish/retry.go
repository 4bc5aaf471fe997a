package publish

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"cloud.google.com/go/storage"
)

// Retry bounds how often a transient failure is tried again.
type Retry struct {
	Attempts int           // total tries, at least 1
	Initial  time.Duration // first pause
	Max      time.Duration // longest pause
	// RequestTimeout bounds each try; 0: none but ctx.
	RequestTimeout time.Duration
}

// DefaultRetry covers GCS's usual 429/503 bursts and dropped connections.
var DefaultRetry = Retry{Attempts: 6, Initial: 250 * time.Millisecond, Max: 8 * time.Second}

// Transient reports errors worth another try: 408, 429, 5xx and dropped or
// refused connections, as the storage library classifies them.
func Transient(err error) bool {
	if errors.Is(err, ErrPrecondition) || errors.Is(err, ErrNotFound) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return storage.ShouldRetry(err)
}

// do runs f until it succeeds, fails for good, ctx ends or the attempts are
// used up. Pauses grow exponentially with full jitter, so parallel uploads
// that failed together do not retry together.
func (r Retry) do(ctx context.Context, f func(context.Context) error) error {
	attempts := max(r.Attempts, 1)
	pause := r.Initial
	var err error
	for i := 0; i < attempts; i++ {
		err = r.try(ctx, f)
		if err == nil || !(Transient(err) || errors.Is(err, errRequestTimeout)) || ctx.Err() != nil {
			break
		}
		if i == attempts-1 {
			break
		}
		t := time.NewTimer(time.Duration(rand.Int64N(int64(pause) + 1)))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		pause = min(pause*2, r.Max)
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// errRequestTimeout marks a try that got no answer within RequestTimeout.
var errRequestTimeout = errors.New("no answer")

func (r Retry) try(ctx context.Context, f func(context.Context) error) error {
	if r.RequestTimeout <= 0 {
		return f(ctx)
	}
	tctx, cancel := context.WithTimeout(ctx, r.RequestTimeout)
	defer cancel()
	err := f(tctx)
	if err != nil && ctx.Err() == nil && tctx.Err() != nil {
		return fmt.Errorf("%w within %s (request timeout): %w", errRequestTimeout, r.RequestTimeout, err)
	}
	return err
}
