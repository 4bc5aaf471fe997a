package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
)

// Errors a Store returns, so the publisher's logic does not depend on GCS types.
var (
	ErrNotFound     = errors.New("object not found")
	ErrPrecondition = errors.New("precondition failed")
)

// Store is the bucket, reduced to what publishing needs.
type Store interface {
	// List returns every object whose name starts with prefix.
	List(ctx context.Context, prefix string) (map[string]Remote, error)
	// Stat returns ErrNotFound when the object is absent.
	Stat(ctx context.Context, name string) (Remote, error)
	// Read returns ErrNotFound when the object is absent.
	Read(ctx context.Context, name string) ([]byte, Remote, error)
	// Create writes obj only if the object's current generation is
	// ifGeneration, 0 meaning "only if it does not exist"; otherwise it
	// returns ErrPrecondition. A Create is a single attempt: the publisher
	// retries, which is safe because of the precondition.
	Create(ctx context.Context, obj Object, ifGeneration int64) (Remote, error)
}

// NewStorageClient connects with Application Default Credentials (a service
// account, `gcloud auth application-default login`, or GitHub Actions'
// Workload Identity Federation); STORAGE_EMULATOR_HOST points it at an
// emulator such as fake-gcs-server.
func NewStorageClient(ctx context.Context, opts ...option.ClientOption) (*storage.Client, error) {
	// JSON API reads work with any endpoint (an emulator's public host
	// need not match the address used; XML reads need it to).
	c, err := storage.NewClient(ctx, append([]option.ClientOption{storage.WithJSONReads()}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connecting to Cloud Storage: %w (credentials come from Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, gcloud auth application-default login, or the metadata server)", err)
	}
	return c, nil
}

// GCS is a Store on one bucket.
type GCS struct {
	bucket *storage.BucketHandle
	name   string
}

// NewGCS uses client for bucket. Every call is a single attempt: the
// publisher retries with a bound (the library's own retries of reads have
// none but the context, so a bucket answering 503 forever would hang a CLI).
func NewGCS(client *storage.Client, bucket string) *GCS {
	return &GCS{bucket: client.Bucket(bucket).Retryer(storage.WithPolicy(storage.RetryNever)), name: bucket}
}

func remoteOf(a *storage.ObjectAttrs) Remote {
	return Remote{Size: a.Size, CRC32C: a.CRC32C, MD5: a.MD5, Generation: a.Generation}
}

func (g *GCS) wrap(op, name string, err error) error {
	var gerr *googleapi.Error
	switch {
	case errors.Is(err, storage.ErrObjectNotExist):
		return fmt.Errorf("%s %s: %w", op, GSURI(g.name, name), ErrNotFound)
	case errors.As(err, &gerr) && gerr.Code == http.StatusPreconditionFailed:
		return fmt.Errorf("%s %s: %w", op, GSURI(g.name, name), ErrPrecondition)
	case errors.Is(err, storage.ErrBucketNotExist) || (errors.As(err, &gerr) && gerr.Code == http.StatusNotFound && name == ""):
		return fmt.Errorf("%s: bucket gs://%s does not exist (create it, or fix the bucket name): %w", op, g.name, err)
	case errors.As(err, &gerr) && (gerr.Code == http.StatusForbidden || gerr.Code == http.StatusUnauthorized):
		return fmt.Errorf("%s %s: permission denied: %w (the publishing identity needs roles/storage.objectUser on the bucket: create, get and list objects, and delete to replace latest.json)", op, GSURI(g.name, name), err)
	}
	return fmt.Errorf("%s %s: %w", op, GSURI(g.name, name), err)
}

// List implements Store with one paged listing, so planning a bundle of a
// thousand files costs one or two requests rather than one per file.
func (g *GCS) List(ctx context.Context, prefix string) (map[string]Remote, error) {
	q := &storage.Query{Prefix: prefix}
	if err := q.SetAttrSelection([]string{"Name", "Size", "CRC32C", "MD5", "Generation"}); err != nil {
		return nil, err
	}
	out := map[string]Remote{}
	it := g.bucket.Objects(ctx, q)
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, g.wrap("listing", prefix, err)
		}
		out[a.Name] = remoteOf(a)
	}
}

// Stat implements Store.
func (g *GCS) Stat(ctx context.Context, name string) (Remote, error) {
	a, err := g.bucket.Object(name).Attrs(ctx)
	if err != nil {
		return Remote{}, g.wrap("reading attributes of", name, err)
	}
	return remoteOf(a), nil
}

// Read implements Store.
func (g *GCS) Read(ctx context.Context, name string) ([]byte, Remote, error) {
	r, err := g.bucket.Object(name).NewReader(ctx)
	if err != nil {
		return nil, Remote{}, g.wrap("reading", name, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, Remote{}, g.wrap("reading", name, err)
	}
	return data, Remote{Size: r.Attrs.Size, CRC32C: r.Attrs.CRC32C, Generation: r.Attrs.Generation}, nil
}

// Create implements Store with one single-request upload that carries the
// CRC32C and MD5, so GCS itself rejects bytes damaged on the way.
func (g *GCS) Create(ctx context.Context, obj Object, ifGeneration int64) (Remote, error) {
	cond := storage.Conditions{DoesNotExist: true}
	if ifGeneration != 0 {
		cond = storage.Conditions{GenerationMatch: ifGeneration}
	}
	h := g.bucket.Object(obj.Name).If(cond)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := h.NewWriter(wctx)
	// ChunkSize 0: one request per object, no 16 MiB buffer per upload. The
	// library cannot retry such an upload; the publisher does.
	w.ChunkSize = 0
	w.ContentType = obj.ContentType
	w.CacheControl = obj.CacheControl
	w.CRC32C = obj.CRC32C
	w.SendCRC32C = true
	w.MD5 = obj.MD5
	if _, err := w.Write(obj.Data); err != nil {
		cancel()
		_ = w.Close()
		return Remote{}, g.wrap("uploading", obj.Name, err)
	}
	if err := w.Close(); err != nil {
		return Remote{}, g.wrap("uploading", obj.Name, err)
	}
	return remoteOf(w.Attrs()), nil
}
