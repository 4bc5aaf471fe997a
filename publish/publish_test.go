package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
)

func publicTarget(f *fakeGCS, prefix string) bundle.Target {
	return bundle.Target{Bucket: testBucket, Prefix: prefix, Public: true, DownloadBaseURL: f.URL}
}

// Every bundle file and manifest.json land under PREFIX/bundles/<id>/, with
// the bytes the manifest promises, the metadata https readers need, and
// latest.json names them.
func TestLayout(t *testing.T) {
	f := newFakeGCS(t)
	target := publicTarget(f, "team/tn")
	b := testBundle(t, 5, target, "a")
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	pub := &Publisher{Store: f.store(), Now: func() time.Time { return now }}
	res, err := pub.Publish(testCtx(t), b, target)
	if err != nil {
		t.Fatal(err)
	}

	id := b.Manifest.BundleID
	var want []string
	for _, file := range b.Manifest.Files {
		want = append(want, "team/tn/bundles/"+id+"/"+file.Path)
	}
	want = append(want, "team/tn/bundles/"+id+"/manifest.json", "team/tn/latest.json")
	got := f.names(t)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("objects in bucket:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res.Uploaded != len(b.Manifest.Files)+1 || f.Uploads.Load() != int64(len(b.Manifest.Files)+2) {
		t.Errorf("result says %d uploads, server saw %d requests; want %d bundle objects + latest.json", res.Uploaded, f.Uploads.Load(), len(b.Manifest.Files)+1)
	}

	for _, file := range b.Manifest.Files {
		o, _ := f.object(t, bundle.ObjectName("team/tn", id, file.Path))
		sum := sha256.Sum256(o.Content)
		if hex.EncodeToString(sum[:]) != file.SHA256 {
			t.Errorf("%s: uploaded sha256 %x, manifest says %s", file.Path, sum, file.SHA256)
		}
		if o.CacheControl != "no-cache" {
			t.Errorf("%s: Cache-Control %q, want no-cache for a public bucket", file.Path, o.CacheControl)
		}
		wantType := map[string]string{".yaml": "application/yaml", ".hcl": "text/plain; charset=utf-8"}[file.Path[strings.LastIndex(file.Path, "."):]]
		if o.ContentType != wantType {
			t.Errorf("%s: Content-Type %q, want %q", file.Path, o.ContentType, wantType)
		}
	}
	mf, _ := f.object(t, bundle.ObjectName("team/tn", id, "manifest.json"))
	if enc, _ := b.Manifest.Encode(); string(mf.Content) != string(enc) {
		t.Errorf("manifest.json in the bucket differs from the bundle's")
	}

	ptr, gen := f.pointer(t, "team/tn")
	jobObj := "team/tn/bundles/" + id + "/jobs/tetragon.nomad.hcl"
	wantPtr := Pointer{SchemaVersion: 1, BundleID: id, Bucket: testBucket, JobspecObject: jobObj,
		JobspecURL: f.URL + "/" + testBucket + "/" + jobObj, ManifestObject: "team/tn/bundles/" + id + "/manifest.json",
		Contract: "contract-a", PublishedAt: now, Versions: b.Manifest.Versions}
	if ptr != wantPtr {
		t.Errorf("latest.json = %+v\nwant %+v", ptr, wantPtr)
	}
	if res.JobspecURL != wantPtr.JobspecURL || res.PointerGeneration != gen || !res.PointerUpdated {
		t.Errorf("result %+v disagrees with latest.json (generation %d)", res, gen)
	}
	if o, _ := f.object(t, "team/tn/latest.json"); o.CacheControl != "no-cache" || o.ContentType != "application/json" {
		t.Errorf("latest.json metadata: Cache-Control %q Content-Type %q", o.CacheControl, o.ContentType)
	}

	// The public URL is fetchable as Nomad's artifact block would fetch it.
	resp, err := http.Get(res.JobspecURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != string(b.Content[bundle.JobspecPath]) {
		t.Errorf("GET %s: %d %q", res.JobspecURL, resp.StatusCode, body)
	}
}

// Private buckets: no Cache-Control on bundle objects (GCS does not cache
// them), gcs:: URLs, and latest.json still no-cache for people reading it.
func TestPrivateMode(t *testing.T) {
	f := newFakeGCS(t)
	target := bundle.Target{Bucket: testBucket, Prefix: "tn"}
	b := testBundle(t, 2, target, "p")
	res, err := (&Publisher{Store: f.store()}).Publish(testCtx(t), b, target)
	if err != nil {
		t.Fatal(err)
	}
	want := "gcs::https://www.googleapis.com/storage/v1/" + testBucket + "/tn/bundles/" + b.Manifest.BundleID + "/jobs/tetragon.nomad.hcl"
	if res.JobspecURL != want {
		t.Errorf("jobspec URL %q, want %q", res.JobspecURL, want)
	}
	o, _ := f.object(t, res.JobspecObject)
	if o.CacheControl != "" {
		t.Errorf("private object Cache-Control %q, want none", o.CacheControl)
	}
	if p, _ := f.pointer(t, "tn"); p.JobspecURL != want {
		t.Errorf("latest.json jobspec_url %q, want %q", p.JobspecURL, want)
	}
}

// A second publish of the same bundle uploads nothing, not even latest.json.
func TestRepublishUploadsNothing(t *testing.T) {
	f := newFakeGCS(t)
	target := publicTarget(f, "tn")
	b := testBundle(t, 20, target, "a")
	pub := &Publisher{Store: f.store()}
	if _, err := pub.Publish(testCtx(t), b, target); err != nil {
		t.Fatal(err)
	}
	_, gen := f.pointer(t, "tn")
	f.Uploads.Store(0)

	res, err := pub.Publish(testCtx(t), b, target)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.Uploads.Load(); n != 0 {
		t.Errorf("second publish sent %d upload requests, want 0", n)
	}
	if res.Uploaded != 0 || res.Present != len(b.Manifest.Files)+1 || res.PointerUpdated {
		t.Errorf("second publish: %+v", res)
	}
	if _, gen2 := f.pointer(t, "tn"); gen2 != gen || res.PointerGeneration != gen {
		t.Errorf("latest.json generation %d -> %d (result %d), want unchanged", gen, gen2, res.PointerGeneration)
	}
}

// Moving latest.json back to an older, complete bundle uploads only the pointer.
func TestRollbackUploadsOnlyPointer(t *testing.T) {
	f := newFakeGCS(t)
	target := publicTarget(f, "tn")
	a, b := testBundle(t, 3, target, "a"), testBundle(t, 3, target, "b")
	pub := &Publisher{Store: f.store()}
	for _, x := range []*bundle.Bundle{a, b} {
		if _, err := pub.Publish(testCtx(t), x, target); err != nil {
			t.Fatal(err)
		}
	}
	f.Uploads.Store(0)
	res, err := pub.Publish(testCtx(t), a, target)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := f.pointer(t, "tn"); p.BundleID != a.Manifest.BundleID || res.Previous != b.Manifest.BundleID || f.Uploads.Load() != 1 {
		t.Errorf("rollback: latest.json names %s, previous %s, %d uploads; want %s, %s, 1", p.BundleID, res.Previous, f.Uploads.Load(), a.Manifest.BundleID, b.Manifest.BundleID)
	}
}

// An object under the bundle id with other bytes is refused before anything
// is uploaded, and is left as it was.
func TestModifiedObjectRefused(t *testing.T) {
	f := newFakeGCS(t)
	target := publicTarget(f, "tn")
	b := testBundle(t, 4, target, "a")
	tampered := bundle.ObjectName("tn", b.Manifest.BundleID, "policies/policy-0002.yaml")
	f.Put(testBucket, tampered, []byte("kind: Evil\n"))
	f.Uploads.Store(0)

	_, err := (&Publisher{Store: f.store()}).Publish(testCtx(t), b, target)
	var ce *ConflictError
	if !errors.As(err, &ce) || len(ce.Conflicts) != 1 || ce.Conflicts[0].Object.Name != tampered {
		t.Fatalf("err = %v, want a ConflictError naming %s", err, tampered)
	}
	for _, want := range []string{"gs://" + testBucket + "/" + tampered, "immutable", "nothing was uploaded", "latest.json was not changed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if n := f.Uploads.Load(); n != 0 {
		t.Errorf("%d uploads after a conflict, want 0", n)
	}
	if o, _ := f.object(t, tampered); string(o.Content) != "kind: Evil\n" {
		t.Errorf("conflicting object was overwritten: %q", o.Content)
	}
	if _, gen := f.pointer(t, "tn"); gen != 0 {
		t.Errorf("latest.json written despite the conflict")
	}
}

// Someone writes other bytes under the bundle id between our listing and
// our upload: the DoesNotExist precondition stops the overwrite.
func TestRaceOnImmutableObjectRefused(t *testing.T) {
	f := newFakeGCS(t)
	target := publicTarget(f, "tn")
	b := testBundle(t, 3, target, "a")
	raced := bundle.ObjectName("tn", b.Manifest.BundleID, "policies/policy-0001.yaml")
	var once sync.Once
	f.SetFault(func(name string, w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if name == raced {
			once.Do(func() {
				f.Put(testBucket, raced, []byte("other\n"))
			})
		}
		return false
	})
	_, err := (&Publisher{Store: f.store(), Retry: fastRetry}).Publish(testCtx(t), b, target)
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Conflicts[0].Object.Name != raced {
		t.Fatalf("err = %v, want a ConflictError for %s", err, raced)
	}
	if o, _ := f.object(t, raced); string(o.Content) != "other\n" {
		t.Errorf("object overwritten: %q", o.Content)
	}
	if _, gen := f.pointer(t, "tn"); gen != 0 {
		t.Errorf("latest.json written despite the conflict")
	}
}

// 503s and lost replies are retried; the DoesNotExist precondition makes
// the retry of an upload that did land harmless.
func TestTransientErrorsRetried(t *testing.T) {
	f := newFakeGCS(t)
	target := publicTarget(f, "tn")
	b := testBundle(t, 6, target, "a")
	var mu sync.Mutex
	seen := map[string]int{}
	f.SetFault(func(name string, w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		mu.Lock()
		seen[name]++
		n := seen[name]
		mu.Unlock()
		if strings.HasSuffix(name, "0001.yaml") || strings.HasSuffix(name, "latest.json") {
			if n > 1 {
				return false
			}
			// The write lands but the reply is lost.
			next.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "backend error", http.StatusServiceUnavailable)
			return true
		}
		if n <= 2 {
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return true
		}
		return false
	})
	res, err := (&Publisher{Store: f.store(), Retry: fastRetry}).Publish(testCtx(t), b, target)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range b.Manifest.Files {
		o, ok := f.object(t, bundle.ObjectName("tn", b.Manifest.BundleID, file.Path))
		if !ok || bundle.SHA256Hex(o.Content) != file.SHA256 {
			t.Errorf("%s missing or wrong after retries", file.Path)
		}
	}
	if p, _ := f.pointer(t, "tn"); p.BundleID != b.Manifest.BundleID || !res.PointerUpdated {
		t.Errorf("latest.json names %q after retries", p.BundleID)
	}
	for name, n := range seen {
		if strings.HasSuffix(name, "0001.yaml") || strings.HasSuffix(name, "latest.json") {
			if n != 2 {
				t.Errorf("%s: %d attempts, want 2 (lost reply, then 412 and a checksum match)", name, n)
			}
		} else if n != 3 {
			t.Errorf("%s: %d attempts, want 3 (two 429s)", name, n)
		}
	}
}

// Errors that will not go away are not retried and are reported.
func TestPermanentErrorSurfaced(t *testing.T) {
	f := newFakeGCS(t)
	target := publicTarget(f, "tn")
	b := testBundle(t, 2, target, "a")
	var attempts atomic.Int64
	f.SetFault(func(name string, w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		attempts.Add(1)
		http.Error(w, `{"error":{"code":403,"message":"denied"}}`, http.StatusForbidden)
		return true
	})
	_, err := (&Publisher{Store: f.store(), Retry: fastRetry, Concurrency: 1}).Publish(testCtx(t), b, target)
	if err == nil || !strings.Contains(err.Error(), "permission denied") || !strings.Contains(err.Error(), "roles/storage.objectUser") {
		t.Fatalf("err = %v, want a permission error naming the role", err)
	}
	if attempts.Load() != 1 {
		t.Errorf("%d attempts at a 403, want 1", attempts.Load())
	}
	if _, gen := f.pointer(t, "tn"); gen != 0 {
		t.Errorf("latest.json written after a failed upload")
	}
}

// Two publishers of different bundles overlap: one wins, the other gets a
// PointerConflictError that says what happened, and both bundles are whole.
func TestConcurrentPublishers(t *testing.T) {
	f := newFakeGCS(t)
	target := publicTarget(f, "tn")
	old := testBundle(t, 3, target, "old")
	if _, err := (&Publisher{Store: f.store()}).Publish(testCtx(t), old, target); err != nil {
		t.Fatal(err)
	}
	bundles := []*bundle.Bundle{testBundle(t, 30, target, "x"), testBundle(t, 30, target, "y")}
	// Both have read latest.json before either uploads anything.
	var planned sync.WaitGroup
	planned.Add(2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, b := range bundles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var once sync.Once
			pub := &Publisher{Store: f.store(), Concurrency: 4, Progress: func(p Progress) {
				if p.Stage == Planned {
					once.Do(func() { planned.Done(); planned.Wait() })
				}
			}}
			_, errs[i] = pub.Publish(testCtx(t), b, target)
		}()
	}
	wg.Wait()

	winner, loser := -1, -1
	for i, err := range errs {
		var pce *PointerConflictError
		switch {
		case err == nil:
			winner = i
		case errors.As(err, &pce):
			loser = i
		default:
			t.Fatalf("publisher %d: unexpected error %v", i, err)
		}
	}
	if winner < 0 || loser < 0 {
		t.Fatalf("want one winner and one loser, got errors %v", errs)
	}
	msg := errs[loser].Error()
	for _, want := range []string{"latest.json", "Another publisher", "NOT overwritten", old.Manifest.BundleID, bundles[winner].Manifest.BundleID, bundles[loser].Manifest.BundleID, "publish it again"} {
		if !strings.Contains(msg, want) {
			t.Errorf("loser's error does not mention %q:\n%s", want, msg)
		}
	}
	if p, _ := f.pointer(t, "tn"); p.BundleID != bundles[winner].Manifest.BundleID {
		t.Errorf("latest.json names %s, want the winner %s", p.BundleID, bundles[winner].Manifest.BundleID)
	}
	for _, b := range append(bundles, old) {
		assertComplete(t, f, "tn", b)
	}
}

// Two publishers of the same bundle both succeed; the objects are written once.
func TestConcurrentSameBundle(t *testing.T) {
	f := newFakeGCS(t)
	target := publicTarget(f, "tn")
	b := testBundle(t, 40, target, "same")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = (&Publisher{Store: f.store(), Concurrency: 4}).Publish(testCtx(t), b, target)
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("errors: %v", errs)
	}
	assertComplete(t, f, "tn", b)
	if p, _ := f.pointer(t, "tn"); p.BundleID != b.Manifest.BundleID {
		t.Errorf("latest.json names %q", p.BundleID)
	}
}

// Cancelling in the middle leaves latest.json on the previous, complete
// bundle; publishing again finishes without re-uploading what landed.
func TestCancelMidway(t *testing.T) {
	f := newFakeGCS(t)
	target := publicTarget(f, "tn")
	prev := testBundle(t, 5, target, "prev")
	if _, err := (&Publisher{Store: f.store()}).Publish(testCtx(t), prev, target); err != nil {
		t.Fatal(err)
	}
	next := testBundle(t, 50, target, "next")
	ctx, cancel := context.WithCancel(testCtx(t))
	pub := &Publisher{Store: f.store(), Concurrency: 2, Progress: func(p Progress) {
		if p.Uploaded == 5 {
			cancel()
		}
	}}
	_, err := pub.Publish(ctx, next, target)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "latest.json was not changed") {
		t.Fatalf("err = %v, want a cancellation that says latest.json is unchanged", err)
	}
	if p, _ := f.pointer(t, "tn"); p.BundleID != prev.Manifest.BundleID {
		t.Fatalf("latest.json names %q after a cancelled publish, want the previous %s", p.BundleID, prev.Manifest.BundleID)
	}
	assertComplete(t, f, "tn", prev)

	// A cancelled request may still complete on the server a moment later.
	time.Sleep(100 * time.Millisecond)
	landed := map[string]bool{}
	for _, name := range f.names(t) {
		if strings.Contains(name, next.Manifest.BundleID) {
			landed[name] = true
		}
	}
	total := len(next.Manifest.Files) + 1
	if len(landed) < 5 || len(landed) >= total {
		t.Fatalf("%d of %d objects landed before the cancel took effect; the test needs a partial upload", len(landed), total)
	}
	var mu sync.Mutex
	sent := map[string]bool{}
	f.SetFault(func(name string, w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		mu.Lock()
		sent[name] = true
		mu.Unlock()
		return false
	})
	res, err := (&Publisher{Store: f.store()}).Publish(testCtx(t), next, target)
	if err != nil {
		t.Fatal(err)
	}
	for name := range sent {
		if landed[name] {
			t.Errorf("resume uploaded %s again", name)
		}
	}
	if res.Present != len(landed) || res.Uploaded != total-len(landed) || len(sent) != total-len(landed)+1 {
		t.Errorf("resume: %d present, %d uploaded, %d objects sent; want %d, %d, %d (the rest and latest.json)", res.Present, res.Uploaded, len(sent), len(landed), total-len(landed), total-len(landed)+1)
	}
	assertComplete(t, f, "tn", next)
}

// assertComplete checks every object of b is in the bucket with the sha256
// its manifest (and so its jobspec) promises.
func assertComplete(t *testing.T, f *fakeGCS, prefix string, b *bundle.Bundle) {
	t.Helper()
	for _, file := range b.Manifest.Files {
		o, ok := f.object(t, bundle.ObjectName(prefix, b.Manifest.BundleID, file.Path))
		if !ok {
			t.Errorf("bundle %s: %s missing", b.Manifest.BundleID, file.Path)
			continue
		}
		if got := bundle.SHA256Hex(o.Content); got != file.SHA256 {
			t.Errorf("bundle %s: %s has sha256 %s, manifest says %s", b.Manifest.BundleID, file.Path, got, file.SHA256)
		}
	}
	if _, ok := f.object(t, bundle.ObjectName(prefix, b.Manifest.BundleID, bundle.ManifestPath)); !ok {
		t.Errorf("bundle %s: manifest.json missing", b.Manifest.BundleID)
	}
}

// Reads and listings are retried too, but not forever.
func TestTransientReadErrors(t *testing.T) {
	f := newFakeGCS(t)
	target := publicTarget(f, "tn")
	b := testBundle(t, 3, target, "a")
	var lists atomic.Int64
	failLists := int64(2)
	f.SetRequestFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/o") && lists.Add(1) <= failLists {
			http.Error(w, `{"error":{"code":503,"message":"backend unavailable"}}`, http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	if _, err := (&Publisher{Store: f.store(), Retry: fastRetry}).Publish(testCtx(t), b, target); err != nil {
		t.Fatalf("two 503s on listing: %v", err)
	}
	if lists.Load() != 3 {
		t.Errorf("%d listings, want 3", lists.Load())
	}

	lists.Store(0)
	failLists = 1 << 30
	_, err := (&Publisher{Store: f.store(), Retry: fastRetry}).Publish(testCtx(t), testBundle(t, 3, target, "b"), target)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("listing always 503: err = %v", err)
	}
	if lists.Load() != int64(fastRetry.Attempts) {
		t.Errorf("%d listings for a persistent 503, want %d", lists.Load(), fastRetry.Attempts)
	}
	if p, _ := f.pointer(t, "tn"); p.BundleID != b.Manifest.BundleID {
		t.Errorf("latest.json changed by a failed publish")
	}
}
