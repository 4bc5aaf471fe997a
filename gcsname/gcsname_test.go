package gcsname

import (
	"strings"
	"testing"
)

func TestBucket(t *testing.T) {
	dotted := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 30)
	for _, good := range []string{"abc", "my-bucket_1", "a.b.c", strings.Repeat("a", 63), dotted, "example.com"} {
		if err := Bucket(good); err != nil {
			t.Errorf("Bucket(%q): %v", good, err)
		}
	}
	for bad, says := range map[string]string{
		"":                             "0 characters",
		"ab":                           "2 characters",
		"-abc":                         "start and end",
		"abc-":                         "start and end",
		"ABC":                          `'A'`,
		"a..b":                         "dot-separated part",
		strings.Repeat("a", 64):        "64 characters",
		dotted + "x":                   "223 characters",
		strings.Repeat("a", 64) + ".b": "dot-separated part",
		"gs://abc":                     "':'",
		"a/b":                          "'/'",
		"goog-bucket":                  "goog",
		"my-google-bucket":             "google",
		"192.168.5.4":                  "IP address",
		"a b":                          "' '",
		"ab\nc":                        `'\n'`,
	} {
		err := Bucket(bad)
		if err == nil {
			t.Errorf("Bucket(%q) accepted", bad)
			continue
		}
		if !strings.Contains(err.Error(), says) {
			t.Errorf("Bucket(%q) = %v; want it to say %q", bad, err, says)
		}
	}
}

func TestPrefix(t *testing.T) {
	for _, good := range []string{"tetranomad", "a/b/c", "team-1/tetra_nomad.v2", "x~y"} {
		if err := Prefix(good); err != nil {
			t.Errorf("Prefix(%q): %v", good, err)
		}
	}
	for _, bad := range []string{"", "/", "//", ".", "..", "a/../b", "/a", "a/", "a//b", "a?b", "a#b", "a b", "a\nb", "a\x00b", "a%2fb", "é", strings.Repeat("a", MaxPrefix+1)} {
		if Prefix(bad) == nil {
			t.Errorf("Prefix(%q) accepted", bad)
		}
	}
}

func TestBaseURL(t *testing.T) {
	for _, good := range []string{"https://storage.googleapis.com", "http://127.0.0.1:4443", "https://cdn.example.com/mirror/", "https://cdn.example.com/a/b"} {
		if err := BaseURL(good); err != nil {
			t.Errorf("BaseURL(%q): %v", good, err)
		}
	}
	for _, bad := range []string{"", "storage.googleapis.com", "ftp://x", "https://", "https://x/?a=b", "https://x/#f", "https://x/a b", "https://x/\n", "https://u:p@x", "https://x/../y", "https://x/./y", "https:x", "https://x\\y"} {
		if BaseURL(bad) == nil {
			t.Errorf("BaseURL(%q) accepted", bad)
		}
	}
}

func TestObjectURL(t *testing.T) {
	for _, c := range []struct{ base, want string }{
		{"https://storage.googleapis.com", "https://storage.googleapis.com/bkt/p/bundles/x/a.yaml"},
		{"https://cdn.example.com/mirror/", "https://cdn.example.com/mirror/bkt/p/bundles/x/a.yaml"},
		{"http://127.0.0.1:4443", "http://127.0.0.1:4443/bkt/p/bundles/x/a.yaml"},
	} {
		if got := ObjectURL(c.base, "bkt", "p/bundles/x/a.yaml"); got != c.want {
			t.Errorf("ObjectURL(%q) = %q, want %q", c.base, got, c.want)
		}
	}
}
