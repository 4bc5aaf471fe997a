#!/usr/bin/env bash
# run-latest.sh [-y] BUCKET [PREFIX]
# Plans, then runs, the newest Tetragon jobspec published to gs://BUCKET/PREFIX
# (PREFIX defaults to tetranomad, the declaration's publish.prefix default).
# Needs gcloud (Application Default Credentials that can read the bucket),
# jq, and nomad with NOMAD_ADDR (and NOMAD_TOKEN) pointing at the cluster.
# -y runs without asking, for CI.
set -euo pipefail

yes=false
if [[ ${1:-} == -y ]]; then
  yes=true
  shift
fi
bucket=${1:?usage: run-latest.sh [-y] BUCKET [PREFIX]}
prefix=${2:-tetranomad}

pointer=$(gcloud storage cat "gs://$bucket/$prefix/latest.json")
url=$(jq -r .jobspec_url <<<"$pointer")
echo "bundle $(jq -r .bundle_id <<<"$pointer"): Tetragon $(jq -r .versions.tetragon <<<"$pointer"), published $(jq -r .published_at <<<"$pointer")"
echo "jobspec $url"

# nomad job plan exits 1 when allocations would change, which is the point.
status=0
nomad job plan "$url" || status=$?
if ((status > 1)); then
  echo "nomad job plan failed (exit $status)" >&2
  exit "$status"
fi

if ! $yes; then
  read -r -p "run it? [y/N] " answer
  [[ $answer == y || $answer == Y ]] || exit 0
fi
nomad job run "$url"
