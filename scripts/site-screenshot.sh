#!/usr/bin/env bash
# Regenerates docs/site.png, the README's picture of the compatibility page:
# `dcos-images site` over the public tree's data (../shared/corpus/dcos-images,
# or the tree given), photographed by headless Chromium at 1440 x 1000.
# The corpus holds no shell scripts: empty ones stand in for the files each
# packer.json provisions, so the page shows what the real tree's would.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
corpus="${1:-$here/../shared/corpus/dcos-images}"
cargo build -q --manifest-path "$here/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$here/target}/debug/dcos-images"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$corpus" "$work/tree"
python3 - "$work/tree" <<'PY'
import json, os, sys
for dirpath, _, files in os.walk(sys.argv[1]):
    if "packer.json" not in files:
        continue
    t = json.load(open(os.path.join(dirpath, "packer.json")))
    for p in t.get("provisioners", []):
        for key in ("script", "source"):
            f = p.get(key)
            if isinstance(f, str) and "{{" not in f and not os.path.isabs(f) and not os.path.exists(os.path.join(dirpath, f)):
                open(os.path.join(dirpath, f), "w").write("#!/bin/sh\n")
        for f in p.get("scripts", []):
            if "{{" not in f and not os.path.exists(os.path.join(dirpath, f)):
                open(os.path.join(dirpath, f), "w").write("#!/bin/sh\n")
    script = os.path.join(dirpath, "install_dcos_prerequisites.sh")
    if not os.path.exists(script):
        open(script, "w").write("#!/bin/sh\n")
PY
"$bin" --root "$work/tree" site --out "$work/site" >/dev/null
chromium --headless=new --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$work/profile" \
  --blink-settings=preferredColorScheme=1 --window-size=1440,1000 \
  --screenshot="$here/docs/site.png" "file://$work/site/index.html" 2>/dev/null
echo "wrote $here/docs/site.png"
