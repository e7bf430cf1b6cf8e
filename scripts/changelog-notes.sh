#!/usr/bin/env bash
# The notes of one release from CHANGELOG.md (Keep a Changelog): the body of
# its `## [VERSION]` section, for the GitHub release.
#   scripts/changelog-notes.sh VERSION
set -euo pipefail
version="${1:?usage: scripts/changelog-notes.sh VERSION}"
changelog="$(cd "$(dirname "$0")/.." && pwd)/CHANGELOG.md"
notes=$(awk -v v="$version" '
  /^## \[/ { on = index($0, "## [" v "]") == 1; next }
  on { print }
' "$changelog")
if [ -z "$(printf '%s' "$notes" | tr -d '[:space:]')" ]; then
  echo "CHANGELOG.md has no section ## [$version]: add one before tagging v$version" >&2
  exit 1
fi
printf '%s\n' "$notes"
