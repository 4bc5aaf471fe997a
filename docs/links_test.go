package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	mdLink  = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*$`)
	fence   = regexp.MustCompile("(?s)```.*?```")
)

// slug is GitHub's anchor for a heading: lowercase, punctuation dropped,
// spaces to dashes.
func slug(h string) string {
	h = strings.ToLower(strings.ReplaceAll(h, "`", ""))
	var b strings.Builder
	for _, r := range h {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(fence.ReplaceAllString(string(data), ""), -1) {
		out[slug(m[1])] = true
	}
	return out
}

// Every relative link in the README, the docs and the examples points at a
// file that exists, and at a heading that exists when it names one.
func TestRelativeLinksResolve(t *testing.T) {
	pages := []string{"../README.md"}
	for _, root := range []string{".", "../examples"} {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".md") || strings.HasSuffix(p, ".mdx")) {
				pages = append(pages, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	checked := 0
	for _, page := range pages {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Dir(page)
		for _, m := range mdLink.FindAllStringSubmatch(fence.ReplaceAllString(string(data), ""), -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "/") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			target, anchor, _ := strings.Cut(link, "#")
			path := page
			if target != "" {
				path = filepath.Join(base, target)
			}
			checked++
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s: link %s: %s does not exist", page, link, path)
				continue
			}
			if anchor != "" && strings.HasSuffix(path, ".md") && !anchors(t, path)[anchor] {
				t.Errorf("%s: link %s: %s has no heading #%s", page, link, path, anchor)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d links; the scanner is broken", checked)
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Change the contract (a new image) without a gap": "change-the-contract-a-new-image-without-a-gap",
		"`tetragon` block": "tetragon-block",
		"Private or public bucket, and the IAM each needs": "private-or-public-bucket-and-the-iam-each-needs",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}
