package fleet

import (
	"errors"
	"strings"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
)

const jobspec = "job \"tetragon-b\" {\n  type      = \"system\"\n  namespace = \"security\"\n}\n"

func objects(t *testing.T, jobspecData string) map[string][]byte {
	t.Helper()
	m := bundle.Manifest{SchemaVersion: bundle.SchemaVersion, BundleID: "id1", Contract: "k1", PolicyMode: "monitor",
		Files: []bundle.File{{Path: bundle.JobspecPath, Role: bundle.RoleJobspec, SHA256: bundle.SHA256Hex([]byte(jobspec))}}}
	mf, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"p/latest.json":                       []byte(`{"schema_version":1,"bundle_id":"id1","manifest_object":"p/bundles/id1/manifest.json"}`),
		"p/bundles/id1/manifest.json":         mf,
		"p/bundles/id1/" + bundle.JobspecPath: []byte(jobspecData),
	}
}

func reader(objs map[string][]byte) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if b, ok := objs[name]; ok {
			return b, nil
		}
		return nil, errors.New("no object " + name)
	}
}

func TestLoadFollowsLatestJSONToTheJob(t *testing.T) {
	for _, start := range []string{"p/latest.json", "p/bundles/id1/manifest.json"} {
		e, err := loadObjects(reader(objects(t, jobspec)), start, "src")
		if err != nil {
			t.Fatalf("%s: %v", start, err)
		}
		want := Expected{Bundle: "id1", Contract: "k1", PolicyMode: "monitor", Source: "src", JobID: "tetragon-b", Namespace: "security"}
		if e != want {
			t.Errorf("%s: %+v, want %+v", start, e, want)
		}
	}
}

func TestLoadRefusesAChangedJobspec(t *testing.T) {
	_, err := loadObjects(reader(objects(t, jobspec+"# edited\n")), "p/latest.json", "src")
	if err == nil || !strings.Contains(err.Error(), "the bundle was changed after publishing") {
		t.Errorf("err = %v", err)
	}
	_, err = loadObjects(reader(objects(t, jobspec)), "p/bundles/id1/jobs/tetragon.nomad.hcl", "src")
	if err == nil || !strings.Contains(err.Error(), "name a latest.json or a bundle's manifest.json") {
		t.Errorf("err = %v", err)
	}
}
