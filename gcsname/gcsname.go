// Package gcsname holds the one rule each for the names that end up in
// Cloud Storage object names and in the URLs a jobspec downloads from: the
// bucket, the object prefix and the public download base URL. The
// declaration (model), the CLI and the publisher all call these, so what
// render accepts publish accepts too.
package gcsname

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Bucket reports a bucket name GCS would refuse, following
// https://cloud.google.com/storage/docs/buckets#naming: 3-63 characters, or
// up to 222 for dotted names whose parts are at most 63; lowercase letters,
// digits, '-', '_' and '.'; starting and ending with a letter or digit; not
// an IP address; not starting with "goog" nor containing "google".
func Bucket(b string) error {
	bad := func(why string) error {
		return fmt.Errorf("%q is not a valid GCS bucket name: %s (give the name without gs://)", b, why)
	}
	max := 63
	if strings.Contains(b, ".") {
		max = 222
	}
	if len(b) < 3 || len(b) > max {
		return bad(fmt.Sprintf("it has %d characters; use 3 to 63, or up to 222 with dots", len(b)))
	}
	for _, r := range b {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return bad(fmt.Sprintf("%q is not allowed; use lowercase letters, digits, '-', '_' and '.'", r))
		}
	}
	if !alnum(b[0]) || !alnum(b[len(b)-1]) {
		return bad("it must start and end with a letter or digit")
	}
	for _, part := range strings.Split(b, ".") {
		if part == "" || len(part) > 63 {
			return bad("every dot-separated part must have 1 to 63 characters")
		}
	}
	if net.ParseIP(b) != nil {
		return bad("it must not be an IP address")
	}
	if strings.HasPrefix(b, "goog") || strings.Contains(b, "google") {
		return bad(`it must not start with "goog" or contain "google"`)
	}
	return nil
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// MaxPrefix bounds a prefix, leaving room under GCS's 1024-byte object names
// for bundles/<id>/<file>.
const MaxPrefix = 512

// Prefix reports an object prefix that is not one or more '/'-separated
// segments of letters, digits, '-', '_', '.' and '~' (none of them "." or
// ".."), without a leading or trailing '/'. That alphabet needs no escaping
// in a URL, an HCL string or a shell word, so the names built from it are
// the same everywhere; an empty prefix (the bucket's root) is refused.
func Prefix(p string) error {
	if p == "" {
		return fmt.Errorf("prefix is empty; name a folder such as %q (publishing to the bucket's root is not supported)", "tetranomad")
	}
	if len(p) > MaxPrefix {
		return fmt.Errorf("prefix %q has %d characters; use at most %d", p, len(p), MaxPrefix)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("prefix %q: empty, '.' or '..' path segments are not allowed, nor a leading or trailing '/'", p)
		}
		for _, r := range seg {
			if !safeRune(r) {
				return fmt.Errorf("prefix %q: %q is not allowed; use letters, digits, '-', '_', '.', '~' and '/' between folders", p, r)
			}
		}
	}
	return nil
}

// PathSegment reports whether s is one object-name segment in the prefix's
// alphabet (bundle file names use it too).
func PathSegment(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !safeRune(r) {
			return false
		}
	}
	return true
}

func safeRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '~'
}

// BaseURL reports a download base URL that is not a plain http(s) URL: a
// scheme, a host, optionally a path; no user, query, fragment, spaces or
// control characters, and no "." or ".." segments.
func BaseURL(s string) error {
	bad := func(why string) error {
		return fmt.Errorf("%q is not an http(s) base URL such as %q: %s", s, "https://storage.googleapis.com", why)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '?' || r == '#' || r == '\\' {
			return bad(fmt.Sprintf("%q is not allowed", r))
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad(err.Error())
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return bad("the scheme must be https or http")
	case u.Host == "" || u.Opaque != "":
		return bad("it has no host")
	case u.User != nil:
		return bad("it must not carry a user or password")
	}
	for _, seg := range strings.Split(strings.Trim(u.EscapedPath(), "/"), "/") {
		if seg == "." || seg == ".." {
			return bad("'.' and '..' path segments are not allowed")
		}
	}
	return nil
}

// ObjectURL joins a base URL that passed BaseURL with a bucket and an
// object name, escaping each segment as a URL path needs.
func ObjectURL(base, bucket, object string) string {
	u, err := url.Parse(base)
	if err != nil {
		// Unreachable for a base that passed BaseURL; keep the name visible.
		u = &url.URL{Scheme: "https", Host: "invalid.invalid"}
	}
	return u.JoinPath(append([]string{bucket}, strings.Split(object, "/")...)...).String()
}
