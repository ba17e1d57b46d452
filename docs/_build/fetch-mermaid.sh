#!/usr/bin/env bash
# Mermaid's script for the docs site, from npm, pinned; the site then draws its diagrams offline. Without
# npm (or offline), nothing is fetched and the theme loads Mermaid 11 from its CDN when a page opens.
set -euo pipefail
VERSION=11.17.2
DEST=docs/assets/javascripts/mermaid.min.js
STAMP=docs/assets/javascripts/.mermaid-$VERSION
[ -f "$STAMP" ] && [ -f "$DEST" ] && exit 0
if ! command -v npm >/dev/null; then
    echo "docs: npm not found; the site will load Mermaid from its CDN" >&2
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && npm pack -q "mermaid@$VERSION" >/dev/null 2>&1); then
    echo "docs: could not fetch mermaid@$VERSION from npm; the site will load Mermaid from its CDN" >&2
    exit 0
fi
tar -xzf "$tmp"/mermaid-*.tgz -C "$tmp" package/dist/mermaid.min.js
mkdir -p "$(dirname "$DEST")"
rm -f docs/assets/javascripts/.mermaid-*
mv "$tmp/package/dist/mermaid.min.js" "$DEST"
touch "$STAMP"
echo "docs: mermaid $VERSION from npm into $DEST"
