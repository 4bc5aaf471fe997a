package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
)

// DefaultConcurrency is how many uploads run at once. Bundle files are
// small, so an upload is one round trip and parallelism is what matters.
const DefaultConcurrency = 16

// Publisher publishes bundles to one Store.
type Publisher struct {
	Store Store
	// Concurrency bounds parallel uploads; 0 means DefaultConcurrency.
	Concurrency int
	// Retry for transient failures; zero value means DefaultRetry.
	Retry Retry
	// Progress, if set, is called after planning, after every upload and at
	// the end; calls never overlap.
	Progress func(Progress)
	// Now stamps latest.json; nil means time.Now.
	Now func() time.Time
	// RequestTimeout bounds each request (one attempt); a request that
	// gets no answer in time is retried like a 503. 0: DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// DefaultRequestTimeout bounds one request to Cloud Storage. Bundle objects
// are a few KiB; a minute without an answer is a frozen connection.
const DefaultRequestTimeout = time.Minute

// Stage of a publish, for progress reports.
type Stage int

const (
	Planned Stage = iota
	Uploading
	Finished
)

// Progress counts objects and bytes.
type Progress struct {
	Stage         Stage
	Objects       int   // objects in the bundle, manifest.json included
	Present       int   // already in the bucket with the same bytes
	ToUpload      int   // missing when planned
	Uploaded      int   // uploaded so far
	UploadBytes   int64 // bytes of the missing objects
	UploadedBytes int64 // bytes uploaded so far
	Object        string
}

// Result describes a finished publish.
type Result struct {
	BundleID       string
	Target         bundle.Target
	JobspecObject  string
	JobspecURL     string
	ManifestObject string
	PointerObject  string
	Objects        int
	Uploaded       int
	UploadedBytes  int64
	Present        int
	// PointerUpdated is false when latest.json already named this bundle.
	PointerUpdated    bool
	PointerGeneration int64
	// Previous is the bundle id latest.json named before ("" if none).
	Previous string
}

// PointerConflictError means another publisher changed latest.json while
// this publish ran. This publish's bundle is complete; only the pointer was
// not moved.
type PointerConflictError struct {
	Bucket          string
	PointerObject   string
	BundleID        string
	JobspecURL      string
	StartGeneration int64 // 0: latest.json did not exist
	StartBundleID   string
	Now             Pointer
	NowGeneration   int64
}

func (e *PointerConflictError) Error() string {
	was := "did not exist"
	if e.StartGeneration != 0 {
		was = fmt.Sprintf("was generation %d naming bundle %s", e.StartGeneration, e.StartBundleID)
	}
	var now string
	switch {
	case e.NowGeneration != 0:
		now = fmt.Sprintf("now it is generation %d naming bundle %s (published %s)", e.NowGeneration, e.Now.BundleID, e.Now.PublishedAt.Format(time.RFC3339))
	case e.StartGeneration != 0:
		now = "now it has been deleted"
	default:
		// It did not exist then and cannot be read now, yet the write's
		// precondition failed: another writer is mid-way, or reads and
		// writes reach different servers.
		now = "now it still cannot be read, yet writing it failed its precondition"
	}
	return fmt.Sprintf("%s changed while this publish ran: when it started it %s, %s. Another publisher got there first; latest.json was NOT overwritten. "+
		"Bundle %s itself is complete and verified, and its jobspec %s can be used directly. To make it the latest, publish it again once the other publisher is done.",
		GSURI(e.Bucket, e.PointerObject), was, now, e.BundleID, e.JobspecURL)
}

// Publish uploads bundle b to target t: the missing bundle objects first, in
// parallel, then latest.json. A failure or cancellation before the end
// leaves latest.json as it was, naming a bundle that is complete.
func (p *Publisher) Publish(ctx context.Context, b *bundle.Bundle, t bundle.Target) (*Result, error) {
	retry := p.Retry
	if retry.Attempts == 0 {
		retry = DefaultRetry
	}
	if retry.RequestTimeout == 0 {
		retry.RequestTimeout = p.RequestTimeout
	}
	if retry.RequestTimeout == 0 {
		retry.RequestTimeout = DefaultRequestTimeout
	}
	objs, err := BundleObjects(b, t)
	if err != nil {
		return nil, err
	}
	m := &b.Manifest
	pointerName := bundle.PointerName(t.Prefix)
	res := &Result{
		BundleID:       m.BundleID,
		Target:         t,
		JobspecObject:  bundle.ObjectName(t.Prefix, m.BundleID, bundle.JobspecPath),
		ManifestObject: bundle.ObjectName(t.Prefix, m.BundleID, bundle.ManifestPath),
		PointerObject:  pointerName,
		Objects:        len(objs),
	}
	res.JobspecURL = t.URL(res.JobspecObject)

	// The pointer's generation is read before anything is uploaded, so a
	// publisher that finishes while we upload makes our pointer write fail
	// instead of being overwritten.
	start, startGen, err := p.readPointer(ctx, retry, pointerName)
	if err != nil {
		return nil, err
	}
	res.Previous = start.BundleID

	var have map[string]Remote
	err = retry.do(ctx, func(ctx context.Context) (err error) {
		have, err = p.Store.List(ctx, bundle.ObjectName(t.Prefix, m.BundleID, "")+"/")
		return err
	})
	if err != nil {
		return nil, err
	}
	plan, err := MakePlan(t.Bucket, objs, have)
	if err != nil {
		return nil, err
	}
	res.Present = len(plan.Present)

	prog := &progressState{report: p.Progress, p: Progress{
		Stage: Planned, Objects: len(objs), Present: len(plan.Present),
		ToUpload: len(plan.Upload), UploadBytes: plan.UploadBytes(),
	}}
	prog.emit(func(*Progress) {})

	if err := p.upload(ctx, retry, t.Bucket, plan.Upload, prog, res); err != nil {
		return nil, err
	}

	if start.BundleID == m.BundleID && startGen != 0 {
		res.PointerGeneration = startGen
	} else if err := p.writePointer(ctx, retry, b, t, pointerName, start, startGen, res); err != nil {
		return nil, err
	}
	prog.emit(func(pr *Progress) { pr.Stage = Finished; pr.Object = "" })
	return res, nil
}

type progressState struct {
	mu     sync.Mutex
	report func(Progress)
	p      Progress
}

func (s *progressState) emit(update func(*Progress)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	update(&s.p)
	if s.report != nil {
		s.report(s.p)
	}
}

func (p *Publisher) readPointer(ctx context.Context, retry Retry, name string) (Pointer, int64, error) {
	var data []byte
	var r Remote
	err := retry.do(ctx, func(ctx context.Context) (err error) {
		data, r, err = p.Store.Read(ctx, name)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return Pointer{}, 0, nil
	}
	if err != nil {
		return Pointer{}, 0, err
	}
	// Something else wrote it: say so rather than overwrite it.
	ptr, err := DecodePointer(data)
	if err != nil {
		return Pointer{}, 0, fmt.Errorf("%s: %w; nothing was uploaded. Delete it if it is stale, or publish under another prefix", name, err)
	}
	return ptr, r.Generation, nil
}

func (p *Publisher) upload(ctx context.Context, retry Retry, bucket string, objs []Object, prog *progressState, res *Result) error {
	conc := p.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	var mu sync.Mutex
	var conflicts []Conflict
	for _, o := range objs {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			err := retry.do(gctx, func(ctx context.Context) error {
				_, err := p.Store.Create(ctx, o, 0)
				return err
			})
			if errors.Is(err, ErrPrecondition) {
				// Someone wrote this name since we listed (another publisher
				// of the same bundle, or our own earlier attempt whose reply
				// was lost). Fine if the bytes are ours.
				var r Remote
				if err = retry.do(gctx, func(ctx context.Context) (err error) { r, err = p.Store.Stat(ctx, o.Name); return err }); err != nil {
					return err
				}
				if !r.Matches(o) {
					mu.Lock()
					conflicts = append(conflicts, Conflict{Object: o, Remote: r})
					mu.Unlock()
					return nil
				}
				mu.Lock()
				res.Present++
				mu.Unlock()
				return nil
			}
			if err != nil {
				return fmt.Errorf("uploading %s: %w", GSURI(bucket, o.Name), err)
			}
			mu.Lock()
			res.Uploaded++
			res.UploadedBytes += int64(len(o.Data))
			mu.Unlock()
			prog.emit(func(pr *Progress) {
				pr.Stage = Uploading
				pr.Uploaded++
				pr.UploadedBytes += int64(len(o.Data))
				pr.Object = o.Name
			})
			return nil
		})
	}
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("publish interrupted after %d of %d uploads: %w; latest.json was not changed, publish again to finish", res.Uploaded, len(objs), ctx.Err())
		}
		return fmt.Errorf("%w; latest.json was not changed, publish again to finish (objects already uploaded are kept and not uploaded twice)", err)
	}
	if len(conflicts) > 0 {
		return &ConflictError{Bucket: bucket, Conflicts: conflicts}
	}
	return nil
}

func (p *Publisher) writePointer(ctx context.Context, retry Retry, b *bundle.Bundle, t bundle.Target, name string, start Pointer, startGen int64, res *Result) error {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	data, err := NewPointer(&b.Manifest, t, now()).Encode()
	if err != nil {
		return err
	}
	obj := NewObject(name, data, ContentType(name), NoCache)
	var r Remote
	err = retry.do(ctx, func(ctx context.Context) (err error) {
		r, err = p.Store.Create(ctx, obj, startGen)
		return err
	})
	if err == nil {
		res.PointerUpdated = true
		res.PointerGeneration = r.Generation
		return nil
	}
	if !errors.Is(err, ErrPrecondition) {
		return fmt.Errorf("writing %s: %w; the bundle's objects are complete, latest.json still names %q", GSURI(t.Bucket, name), err, start.BundleID)
	}
	cur, curR, rerr := p.Store.Read(ctx, name)
	if rerr != nil && !errors.Is(rerr, ErrNotFound) {
		return fmt.Errorf("writing %s: generation changed since this publish started, and reading it again failed: %w", GSURI(t.Bucket, name), rerr)
	}
	if bytes.Equal(cur, data) {
		// Our own earlier attempt landed; its reply was lost.
		res.PointerUpdated = true
		res.PointerGeneration = curR.Generation
		return nil
	}
	nowPtr, _ := DecodePointer(cur)
	if rerr == nil && nowPtr.BundleID == b.Manifest.BundleID {
		// A concurrent publisher of the very same bundle won; same outcome.
		res.PointerGeneration = curR.Generation
		return nil
	}
	gen := curR.Generation
	if rerr != nil {
		gen = 0
	}
	return &PointerConflictError{
		Bucket: t.Bucket, PointerObject: name, BundleID: b.Manifest.BundleID, JobspecURL: res.JobspecURL,
		StartGeneration: startGen, StartBundleID: start.BundleID, Now: nowPtr, NowGeneration: gen,
	}
}
