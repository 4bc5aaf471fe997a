package model

import "github.com/tetranomad/packer-plugin-tetranomad/bundle"

// Target is where the bundle is published, in the form the manifest, the
// jobspec's artifact URLs and the publisher share.
func (p Publish) Target() bundle.Target {
	return bundle.Target{Bucket: p.Bucket, Prefix: p.Prefix, Public: p.Public, DownloadBaseURL: p.DownloadBaseURL}
}
