package publish

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
)

// Remote is what the bucket says about an existing object.
type Remote struct {
	Size       int64
	CRC32C     uint32
	MD5        []byte // empty for composite objects
	Generation int64
}

// Matches reports whether the remote object holds obj's bytes. CRC32C and
// size always exist; MD5 is compared when GCS has one.
func (r Remote) Matches(obj Object) bool {
	if r.Size != int64(len(obj.Data)) || r.CRC32C != obj.CRC32C {
		return false
	}
	return len(r.MD5) == 0 || bytes.Equal(r.MD5, obj.MD5)
}

// Plan says what a publish has to do.
type Plan struct {
	Upload  []Object // missing from the bucket
	Present []Object // already there with the same bytes
}

// UploadBytes is the size of everything to upload.
func (p Plan) UploadBytes() int64 {
	var n int64
	for _, o := range p.Upload {
		n += int64(len(o.Data))
	}
	return n
}

// Conflict is an object that exists under a bundle id with other bytes.
type Conflict struct {
	Object Object
	Remote Remote
}

// ConflictError refuses a publish that would need to change an immutable
// object. Objects under a bundle id are content-addressed: different bytes
// under the same name mean the bucket was changed by hand, or two renders
// disagree about what the id covers.
type ConflictError struct {
	Bucket    string
	Conflicts []Conflict
}

func (e *ConflictError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d object(s) already in gs://%s hold different bytes than this bundle; bundle objects are immutable, so nothing was uploaded and latest.json was not changed:", len(e.Conflicts), e.Bucket)
	for i, c := range e.Conflicts {
		if i == 10 {
			fmt.Fprintf(&b, "\n  ... and %d more", len(e.Conflicts)-i)
			break
		}
		fmt.Fprintf(&b, "\n  %s: bucket has %d bytes crc32c %08x md5 %s, bundle has %d bytes crc32c %08x md5 %s",
			GSURI(e.Bucket, c.Object.Name), c.Remote.Size, c.Remote.CRC32C, hex.EncodeToString(c.Remote.MD5),
			len(c.Object.Data), c.Object.CRC32C, hex.EncodeToString(c.Object.MD5))
	}
	b.WriteString("\nSomeone changed objects under this bundle id. Inspect them, delete that bundle's prefix if it is corrupt, and publish again.")
	return b.String()
}

// MakePlan compares the bundle's objects with what the bucket holds (by
// name). It uploads nothing itself and never plans to overwrite: an object
// present with other bytes is a *ConflictError.
func MakePlan(bucket string, want []Object, have map[string]Remote) (Plan, error) {
	var p Plan
	var conflicts []Conflict
	for _, o := range want {
		r, ok := have[o.Name]
		switch {
		case !ok:
			p.Upload = append(p.Upload, o)
		case r.Matches(o):
			p.Present = append(p.Present, o)
		default:
			conflicts = append(conflicts, Conflict{Object: o, Remote: r})
		}
	}
	if len(conflicts) > 0 {
		return Plan{}, &ConflictError{Bucket: bucket, Conflicts: conflicts}
	}
	return p, nil
}
