// Package schema embeds the TracingPolicy JSON Schema of the pinned Tetragon
// version, generated from the CRD shipped in the github.com/cilium/tetragon
// module (Apache-2.0, see LICENSE.tetragon). Unknown fields are rejected, as
// Tetragon's own strict decoder rejects them when it loads a policy file.
//
// To move to another Tetragon version, change -version below and run
// `go generate ./policy/schema`.
package schema

import _ "embed"

//go:generate go run ./gen -version v1.7.0 -out .

// JSON is the draft 2020-12 JSON Schema for one TracingPolicy document.
//
//go:embed tracingpolicy.schema.json
var JSON []byte

// URL is the identifier the schema is compiled under; findings never show it.
const URL = "https://tetranomad.invalid/tracingpolicy.schema.json"
