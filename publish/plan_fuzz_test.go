package publish

import (
	"path"
	"strings"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
)

// FuzzPublishPlan: whatever a manifest says (bundle id, file paths) and
// whatever prefix is asked for, the objects a publish would write lie under
// PREFIX/bundles/<id>/, are clean names, never PREFIX/latest.json; and the
// plan uploads or keeps each of them exactly once, never overwriting.
func FuzzPublishPlan(f *testing.F) {
	f.Add("tn", "0123456789abcdef0123", "policies/a.yaml", "policies/b.yaml", "tn/bundles/0123456789abcdef0123/policies/a.yaml")
	f.Add("tn", "../../escaped", "policies/a.yaml", "x", "")
	f.Add("a/b", "0123456789abcdef0123", "../../latest.json", "latest.json", "a/b/latest.json")
	f.Add("//", "0123456789abcdef0123", "/etc/passwd", "policies/./x", "")
	f.Add("tn", "0123456789abcdef0123", "policies/latest.json", "nomad/x.hcl", "")
	f.Fuzz(func(t *testing.T, prefix, id, p1, p2, present string) {
		b := &bundle.Bundle{Manifest: bundle.Manifest{
			SchemaVersion: bundle.SchemaVersion,
			BundleID:      id,
			Target:        bundle.Target{Bucket: "bkt", Prefix: prefix},
		}, Content: map[string][]byte{}}
		for _, f := range []bundle.File{
			{Path: p1, Role: bundle.RolePolicy},
			{Path: p2, Role: bundle.RoleClientConfig},
			{Path: bundle.JobspecPath, Role: bundle.RoleJobspec},
		} {
			data := []byte("content of " + f.Path)
			f.SHA256, f.Size = bundle.SHA256Hex(data), int64(len(data))
			b.Manifest.Files = append(b.Manifest.Files, f)
			b.Content[f.Path] = data
		}
		objs, err := BundleObjects(b, b.Manifest.Target)
		if err != nil {
			return
		}
		root := bundle.ObjectName(prefix, id, "") + "/"
		if !strings.HasPrefix(root, prefix+"/bundles/") {
			t.Fatalf("root %q is not under prefix %q", root, prefix)
		}
		names := map[string]bool{}
		for _, o := range objs {
			switch {
			case !strings.HasPrefix(o.Name, root):
				t.Fatalf("object %q outside %q", o.Name, root)
			case path.Clean(o.Name) != o.Name || strings.Contains("/"+o.Name+"/", "/../"):
				t.Fatalf("object %q is not a clean name", o.Name)
			case o.Name == bundle.PointerName(prefix) || path.Base(o.Name) == bundle.PointerFile:
				t.Fatalf("object %q collides with the pointer", o.Name)
			case names[o.Name]:
				t.Fatalf("object %q twice", o.Name)
			}
			names[o.Name] = true
		}
		have := map[string]Remote{}
		if present != "" {
			for _, o := range objs {
				if o.Name == present {
					have[o.Name] = Remote{Size: int64(len(o.Data)), CRC32C: o.CRC32C, MD5: o.MD5}
				}
			}
		}
		plan, err := MakePlan("bkt", objs, have)
		if err != nil {
			t.Fatalf("plan: %v", err)
		}
		if len(plan.Upload)+len(plan.Present) != len(objs) {
			t.Fatalf("plan covers %d+%d of %d objects", len(plan.Upload), len(plan.Present), len(objs))
		}
		for _, o := range plan.Upload {
			if _, ok := have[o.Name]; ok {
				t.Fatalf("plan uploads %q, which is present", o.Name)
			}
		}
	})
}
