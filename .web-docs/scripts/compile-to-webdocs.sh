#!/usr/bin/env bash
# compile-to-webdocs.sh RENDERED_DOCS WEB_DOCS
#
# Turns docs rendered by `packer-sdc renderdocs` into the layout the Packer
# integrations site reads next to .web-docs/metadata.hcl:
#
#   RENDERED/README.md                    -> WEB_DOCS/README.md
#   RENDERED/provisioners/NAME.mdx        -> WEB_DOCS/components/provisioner/NAME/README.md
#   RENDERED/post-processors/NAME.mdx     -> WEB_DOCS/components/post-processor/NAME/README.md
#   (builders/ -> builder, datasources/ -> data-source, likewise)
#
# A component page loses its front matter and its H1: the site renders both
# from metadata.hcl. Links in docs/ are already written in the integrations
# form (/packer/integrations/tetranomad/tetranomad/latest/components/...), so
# nothing is rewritten. Guides under docs/guides stay on GitHub.
set -euo pipefail

src=${1:?usage: compile-to-webdocs.sh RENDERED_DOCS WEB_DOCS}
dst=${2:?usage: compile-to-webdocs.sh RENDERED_DOCS WEB_DOCS}

component_type() {
  case "$1" in
    builders) echo builder ;;
    provisioners) echo provisioner ;;
    post-processors) echo post-processor ;;
    datasources) echo data-source ;;
    *) return 1 ;;
  esac
}

# Drop the leading front matter block (--- ... ---), then the first H1 and the
# blank lines right after it.
strip_header() {
  awk '
    NR == 1 && $0 == "---" { infm = 1; next }
    infm { if ($0 == "---") infm = 0; next }
    !seen_h1 && /^# / { seen_h1 = 1; skip_blank = 1; next }
    skip_blank && /^[[:space:]]*$/ { next }
    { skip_blank = 0; print }
  ' "$1"
}

[[ -f "$src/README.md" ]] || { echo "compile-to-webdocs: $src/README.md missing" >&2; exit 1; }
rm -rf "$dst/components"
mkdir -p "$dst/components"
cp "$src/README.md" "$dst/README.md"

shopt -s nullglob
for dir in "$src"/*/; do
  kind=$(basename "$dir")
  type=$(component_type "$kind") || continue
  for page in "$dir"*.mdx; do
    slug=$(basename "$page" .mdx)
    [[ "$slug" == index ]] && continue
    mkdir -p "$dst/components/$type/$slug"
    strip_header "$page" >"$dst/components/$type/$slug/README.md"
  done
done
