#!/usr/bin/env bash
# Re-pins the base images of deploy/Containerfile and deploy/Containerfile.cuda: resolves each
# ARG *_IMAGE's tag to the digest its registry serves now and rewrites the ARG line.
# Needs a registry and one of: skopeo, crane, docker (buildx) or podman.
#
# Usage: deploy/pin-images.sh            (rewrites the files; review with git diff)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

digest_of() {  # image reference without digest -> sha256:...
    local ref="$1"
    if command -v skopeo >/dev/null; then
        skopeo inspect --format '{{.Digest}}' "docker://$ref"
    elif command -v crane >/dev/null; then
        crane digest "$ref"
    elif command -v docker >/dev/null; then
        docker buildx imagetools inspect "$ref" --format '{{json .Manifest.Digest}}' | tr -d '"'
    elif command -v podman >/dev/null; then
        podman pull --quiet "$ref" >/dev/null
        podman image inspect --format '{{.Digest}}' "$ref"
    else
        echo "pin-images.sh: install skopeo, crane, docker or podman" >&2
        exit 1
    fi
}

for file in Containerfile Containerfile.cuda; do
    grep -E '^ARG [A-Z_]+_IMAGE=' "$file" | while IFS= read -r line; do
        name="${line#ARG }"; name="${name%%=*}"
        ref="${line#*=}"; tagged="${ref%@*}"
        new="$(digest_of "$tagged")"
        case "$new" in sha256:*) ;; *) echo "no digest for $tagged" >&2; exit 1 ;; esac
        sed -i "s|^ARG ${name}=.*|ARG ${name}=${tagged}@${new}|" "$file"
        echo "$file: $name=$tagged@$new"
    done
done
