#!/usr/bin/env bash
# A release archive of dcos-images for this machine's platform, as
# .github/workflows/release.yml makes one per platform:
#   dcos-images-<version>-<target>.tar.gz
#     dcos-images                       the binary users run
#     dcos-images-cloud                 the commands it hands over (src/cli.rs)
#     completions/dcos-images.<shell>   bash, zsh, fish, elvish, powershell
#     man/dcos-images*.1                a page per command
#     README.md CHANGELOG.md
# and <archive>.sha256 beside it.
#   scripts/package.sh [--binary PATH] OUT_DIR
# Without --binary it builds both: `cargo build --locked --release`. The
# tests (tests/release.rs) pass the dcos-images they built (its
# dcos-images-cloud beside it), and check the rest is the same.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin=""
if [ "${1:-}" = --binary ]; then bin="$2"; shift 2; fi
out="${1:?usage: scripts/package.sh [--binary PATH] OUT_DIR}"
if [ -z "$bin" ]; then
  cargo build --locked --release --manifest-path "$here/Cargo.toml"
  bin="${CARGO_TARGET_DIR:-$here/target}/release/dcos-images"
fi
version=$("$bin" --version | awk '{print $2}')
target=$(rustc -vV | sed -n 's/^host: //p')
name="dcos-images-$version-$target"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage="$work/$name"
mkdir -p "$stage/completions" "$stage/man" "$out"
cp "$bin" "$stage/dcos-images"
cp "$(dirname "$bin")/dcos-images-cloud" "$stage/dcos-images-cloud"
for shell in bash zsh fish elvish powershell; do
  "$bin" completions "$shell" >"$stage/completions/dcos-images.$shell"
done
"$bin" man --out "$stage/man" >/dev/null
cp "$here/README.md" "$here/CHANGELOG.md" "$stage/"
tar -C "$work" -czf "$out/$name.tar.gz" "$name"
(cd "$out" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
echo "$out/$name.tar.gz"
