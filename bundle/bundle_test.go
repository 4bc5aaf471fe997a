package bundle

import "testing"

func TestURL(t *testing.T) {
	obj := "tn/bundles/abc/policies/x.yaml"
	cases := []struct {
		target Target
		want   string
	}{
		{Target{Bucket: "b", Public: true}, "https://storage.googleapis.com/b/" + obj},
		{Target{Bucket: "b", Public: true, DownloadBaseURL: "http://10.0.0.1:4443/"}, "http://10.0.0.1:4443/b/" + obj},
		{Target{Bucket: "b"}, "gcs::https://www.googleapis.com/storage/v1/b/" + obj},
		// The download base only matters for public buckets.
		{Target{Bucket: "b", DownloadBaseURL: "http://x"}, "gcs::https://www.googleapis.com/storage/v1/b/" + obj},
	}
	for _, c := range cases {
		if got := c.target.URL(obj); got != c.want {
			t.Errorf("%+v.URL = %q, want %q", c.target, got, c.want)
		}
	}
}
