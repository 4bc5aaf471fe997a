package bundle

// Build is build.json: what one build of the bundle found and used. It is
// kept next to the manifest but outside the bundle id, so a newer plugin or
// another VM's kernel renders the same bundle (same id, same published
// bytes); the post-processor carries it to the image's labels.
type Build struct {
	SchemaVersion int    `json:"schema_version"`
	BundleID      string `json:"bundle_id"`
	// Plugin is the version of the plugin that rendered the directory.
	Plugin string `json:"plugin"`
	// Preflight is what the provisioner found on the VM; nil from render.
	Preflight *Preflight `json:"preflight,omitempty"`
}

// BuildSchemaVersion of build.json.
const BuildSchemaVersion = 1
