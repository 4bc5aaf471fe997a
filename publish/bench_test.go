package publish

import (
	"context"
	"fmt"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/publish/gcstest"
)

// BenchmarkPublish measures a cold publish (empty bucket) and the unchanged
// re-publish against fake-gcs-server on loopback. bench/publish/run compares
// the same with gcloud.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		srv := gcstest.New(b, testBucket)
		c, err := srv.Client(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		target := bundle.Target{Bucket: testBucket, Prefix: "tn"}
		bd := testBundle(b, n, target, "bench")
		pub := &Publisher{Store: NewGCS(c, testBucket)}
		b.Run(fmt.Sprintf("cold/policies=%d", n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				if err := srv.DeleteAll(testBucket); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := pub.Publish(context.Background(), bd, target); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(bd.Manifest.Files)+1)*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
		})
		b.Run(fmt.Sprintf("unchanged/policies=%d", n), func(b *testing.B) {
			srv.Uploads.Store(0)
			for b.Loop() {
				if _, err := pub.Publish(context.Background(), bd, target); err != nil {
					b.Fatal(err)
				}
			}
			if n := srv.Uploads.Load(); n != 0 {
				b.Fatalf("unchanged re-publish uploaded %d objects", n)
			}
		})
		c.Close()
	}
}
