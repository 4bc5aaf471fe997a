package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"google.golang.org/api/option"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/publish"
)

// maxObject bounds what is read of a pointer, manifest or jobspec.
const maxObject = 8 << 20

// ExpectedFromManifest is what a bundle promises, with the job it names.
func ExpectedFromManifest(m *bundle.Manifest, jobspec []byte, source string) (Expected, error) {
	id, ns, err := JobOf(jobspec)
	if err != nil {
		return Expected{}, fmt.Errorf("%s: %s: %w", source, bundle.JobspecPath, err)
	}
	mode := m.PolicyMode
	if mode == "" {
		mode = "enforce" // bundles rendered before policies.mode existed
	}
	return Expected{Bundle: m.BundleID, Contract: m.Contract, PolicyMode: mode, Source: source, JobID: id, Namespace: ns}, nil
}

// JobOf reads the job ID and namespace of a rendered jobspec.
func JobOf(jobspec []byte) (id, namespace string, err error) {
	f, diags := hclsyntax.ParseConfig(jobspec, bundle.JobspecPath, hcl.InitialPos)
	if diags.HasErrors() {
		return "", "", diags
	}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type != "job" || len(b.Labels) != 1 {
			continue
		}
		namespace = "default"
		if a, ok := b.Body.Attributes["namespace"]; ok {
			if v, d := a.Expr.Value(nil); !d.HasErrors() && v.Type().FriendlyName() == "string" {
				namespace = v.AsString()
			}
		}
		return b.Labels[0], namespace, nil
	}
	return "", "", fmt.Errorf("no job block")
}

// Load reads the bundle to compare with from src: a bundle directory, a
// latest.json or manifest.json URL (http or https), or a gs:// latest.json
// or manifest.json object (Application Default Credentials; storageOpts for
// tests).
func Load(ctx context.Context, src string, storageOpts ...option.ClientOption) (Expected, error) {
	switch {
	case strings.HasPrefix(src, "gs://"):
		bucket, object, ok := strings.Cut(strings.TrimPrefix(src, "gs://"), "/")
		if !ok || bucket == "" || object == "" {
			return Expected{}, fmt.Errorf("-bundle %s: want gs://BUCKET/PREFIX/latest.json or gs://BUCKET/…/manifest.json", src)
		}
		client, err := publish.NewStorageClient(ctx, storageOpts...)
		if err != nil {
			return Expected{}, err
		}
		defer client.Close()
		store := publish.NewGCS(client, bucket)
		read := func(name string) ([]byte, error) {
			data, _, err := store.Read(ctx, name)
			return data, err
		}
		return loadObjects(read, object, src)
	case strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "http://"):
		u, err := url.Parse(src)
		if err != nil {
			return Expected{}, fmt.Errorf("-bundle %s: %w", src, err)
		}
		return loadURL(ctx, u, src)
	}
	b, err := bundle.ReadDir(src)
	if err != nil {
		return Expected{}, err
	}
	return ExpectedFromManifest(&b.Manifest, b.Content[bundle.JobspecPath], src)
}

// loadObjects follows a latest.json to its manifest, or reads a manifest,
// then the jobspec next to it, checked against the manifest's sha256.
func loadObjects(read func(name string) ([]byte, error), object, source string) (Expected, error) {
	manifestName := object
	switch path.Base(object) {
	case "latest.json":
		data, err := read(object)
		if err != nil {
			return Expected{}, err
		}
		p, err := publish.DecodePointer(data)
		if err != nil {
			return Expected{}, fmt.Errorf("%s: %w", source, err)
		}
		if p.ManifestObject == "" {
			return Expected{}, fmt.Errorf("%s: latest.json names no manifest_object; publish the bundle again with this plugin", source)
		}
		manifestName = p.ManifestObject
	case bundle.ManifestPath:
	default:
		return Expected{}, fmt.Errorf("-bundle %s: name a latest.json or a bundle's manifest.json", source)
	}
	data, err := read(manifestName)
	if err != nil {
		return Expected{}, err
	}
	var m bundle.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Expected{}, fmt.Errorf("%s: %s is not a bundle manifest: %w", source, manifestName, err)
	}
	f, ok := m.File(bundle.JobspecPath)
	if !ok {
		return Expected{}, fmt.Errorf("%s: %s lists no %s", source, manifestName, bundle.JobspecPath)
	}
	jobspec, err := read(path.Join(path.Dir(manifestName), bundle.JobspecPath))
	if err != nil {
		return Expected{}, err
	}
	if got := bundle.SHA256Hex(jobspec); got != f.SHA256 {
		return Expected{}, fmt.Errorf("%s: the jobspec's sha256 %s is not the manifest's %s; the bundle was changed after publishing", source, got, f.SHA256)
	}
	return ExpectedFromManifest(&m, jobspec, source)
}

// loadURL reads objects over http(s): a latest.json's manifest_object is
// relative to the bucket, which is the URL path's first segment
// (https://storage.googleapis.com/BUCKET/PREFIX/latest.json).
func loadURL(ctx context.Context, u *url.URL, source string) (Expected, error) {
	bucketPath, object, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok || object == "" {
		return Expected{}, fmt.Errorf("-bundle %s: want https://HOST/BUCKET/PREFIX/latest.json", source)
	}
	read := func(name string) ([]byte, error) {
		obj := *u
		obj.Path = "/" + bucketPath + "/" + name
		obj.RawPath = ""
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, obj.String(), nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", obj.String(), err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("reading %s: %s", obj.String(), resp.Status)
		}
		return io.ReadAll(io.LimitReader(resp.Body, maxObject))
	}
	return loadObjects(read, object, source)
}
