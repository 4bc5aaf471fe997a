package publish

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
)

func remoteFor(o Object) Remote {
	return Remote{Size: int64(len(o.Data)), CRC32C: o.CRC32C, MD5: o.MD5, Generation: 7}
}

func TestMakePlan(t *testing.T) {
	a := NewObject("p/a", []byte("alpha"), "text/plain", "")
	b := NewObject("p/b", []byte("beta"), "text/plain", "")
	c := NewObject("p/c", []byte("gamma"), "text/plain", "")
	composite := remoteFor(c)
	composite.MD5 = nil // composite objects have no MD5; CRC32C and size decide

	plan, err := MakePlan("bkt", []Object{a, b, c}, map[string]Remote{"p/b": remoteFor(b), "p/c": composite, "p/unrelated": {}})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Upload) != 1 || plan.Upload[0].Name != "p/a" || len(plan.Present) != 2 || plan.UploadBytes() != 5 {
		t.Errorf("plan = upload %v present %v", names(plan.Upload), names(plan.Present))
	}

	for name, r := range map[string]Remote{
		"other crc":  {Size: 4, CRC32C: b.CRC32C + 1, MD5: b.MD5},
		"other size": {Size: 5, CRC32C: b.CRC32C, MD5: b.MD5},
		"other md5":  {Size: 4, CRC32C: b.CRC32C, MD5: a.MD5},
	} {
		_, err := MakePlan("bkt", []Object{a, b}, map[string]Remote{"p/b": r})
		var ce *ConflictError
		if !errors.As(err, &ce) || len(ce.Conflicts) != 1 || ce.Conflicts[0].Object.Name != "p/b" {
			t.Errorf("%s: err = %v, want a conflict on p/b", name, err)
		}
	}
}

func names(objs []Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Name)
	}
	return out
}

func TestObjectChecksums(t *testing.T) {
	// Known values: CRC32C (Castagnoli) of "123456789" is e3069283.
	o := NewObject("x", []byte("123456789"), "", "")
	if o.CRC32C != 0xe3069283 {
		t.Errorf("crc32c = %08x, want e3069283", o.CRC32C)
	}
	if got := hex.EncodeToString(o.MD5); got != "25f9e794323b453885f5181f1b624d0b" {
		t.Errorf("md5 = %s", got)
	}
}

func TestResolveTarget(t *testing.T) {
	rendered := &bundle.Manifest{BundleID: "id1", Target: bundle.Target{Bucket: "bkt", Prefix: "tn", Public: true}}
	inline := &bundle.Manifest{BundleID: "id2"}
	ok := []struct {
		m              *bundle.Manifest
		bucket, prefix string
		want           bundle.Target
	}{
		{rendered, "", "", rendered.Target},
		{rendered, "bkt", "", rendered.Target},
		{rendered, "bkt", "tn", rendered.Target},
		{inline, "other", "", bundle.Target{Bucket: "other", Prefix: "tetranomad"}},
		{inline, "other", "a/b", bundle.Target{Bucket: "other", Prefix: "a/b"}},
	}
	for _, c := range ok {
		got, err := ResolveTarget(c.m, c.bucket, c.prefix)
		if err != nil || got != c.want {
			t.Errorf("ResolveTarget(%s, %q, %q) = %+v, %v; want %+v", c.m.BundleID, c.bucket, c.prefix, got, err, c.want)
		}
	}
	bad := []struct {
		m              *bundle.Manifest
		bucket, prefix string
		says           []string
	}{
		{rendered, "elsewhere", "", []string{`rendered for bucket "bkt"`, `"elsewhere"`, "render again"}},
		{rendered, "", "other", []string{`rendered for prefix "tn"`, `"other"`, "render again"}},
		{inline, "", "", []string{"no bucket"}},
		{inline, "Bad_Bucket", "", []string{"not a valid GCS bucket name"}},
		{inline, "ok-bucket", "a/../b", []string{"'..'"}},
		// issue 11: "-prefix //" published to the bucket's root.
		{inline, "ok-bucket", "//", []string{"leading or trailing '/'"}},
		{rendered, "bkt", "/tn/", []string{"leading or trailing '/'"}},
		{inline, "ok-bucket", "a?b", []string{"'?' is not allowed"}},
		{&bundle.Manifest{BundleID: "id3", Target: bundle.Target{Bucket: "bkt", Prefix: "../../escaped"}}, "", "", []string{"manifest.json target", "'..'"}},
		{&bundle.Manifest{BundleID: "id4", Target: bundle.Target{Bucket: "bkt", Prefix: "tn", Public: true, DownloadBaseURL: "https://x/?q"}}, "", "", []string{"manifest.json target", "'?' is not allowed"}},
	}
	for _, c := range bad {
		_, err := ResolveTarget(c.m, c.bucket, c.prefix)
		if err == nil {
			t.Errorf("ResolveTarget(%s, %q, %q) accepted", c.m.BundleID, c.bucket, c.prefix)
			continue
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("ResolveTarget(%s, %q, %q): error does not say %q: %v", c.m.BundleID, c.bucket, c.prefix, s, err)
			}
		}
	}
}

func TestContentType(t *testing.T) {
	for p, want := range map[string]string{
		"jobs/tetragon.nomad.hcl": "text/plain; charset=utf-8",
		"policies/x.yaml":         "application/yaml",
		"manifest.json":           "application/json",
		"setup.sh":                "text/x-shellscript; charset=utf-8",
		"blob":                    "application/octet-stream",
	} {
		if got := ContentType(p); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestProgressLog(t *testing.T) {
	var lines []string
	say := ProgressLog(func(s string) { lines = append(lines, s) }, 1<<62)
	say(Progress{Stage: Planned, Objects: 3, Present: 1, ToUpload: 2, UploadBytes: 3000})
	say(Progress{Stage: Uploading, Objects: 3, Present: 1, ToUpload: 2, Uploaded: 1, UploadedBytes: 1000, UploadBytes: 3000})
	say(Progress{Stage: Uploading, Objects: 3, Present: 1, ToUpload: 2, Uploaded: 2, UploadedBytes: 3000, UploadBytes: 3000})
	say(Progress{Stage: Finished, Objects: 3, Present: 1, ToUpload: 2, Uploaded: 2, UploadedBytes: 3000, UploadBytes: 3000})
	want := []string{
		"3 objects in the bundle: 1 already in the bucket, 2 to upload (2.9 KiB)",
		// the middle update is throttled away; the last upload always shows
		"uploaded 2/2 objects, 2.9 KiB/2.9 KiB",
		"done: 2 uploaded (2.9 KiB), 1 unchanged",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("progress lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
