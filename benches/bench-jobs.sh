#!/usr/bin/env bash
# Two build directories qualified one after the other, then with --jobs 2,
# against the local stand-ins (scripts/sandbox.sh): wall time of each.
#   benches/bench-jobs.sh
source "$(dirname "$0")/../scripts/sandbox.sh"

first=centos/7.8/aws/DCOS-2.1.1/docker-19.03.12
second=centos/7.8/aws/DCOS-2.2.0/docker-19.03.12
mkdir -p "$repo/$second"
for f in packer.json install_dcos_prerequisites.sh cluster_profile.tfvars publish_and_test_config.yaml; do
  cp "$repo/$first/$f" "$repo/$second/$f"
done
sed -i 's#DCOS-2.1.1#DCOS-2.2.0#' "$repo/$second/packer.json"
sed -i -e 's#2.1.1#2.2.0#' -e 's#127.9.0.0/16#127.8.0.0/16#' "$repo/$second/cluster_profile.tfvars"
git -C "$repo" add -A
git -C "$repo" -c user.name=you -c user.email=you@example.invalid commit -q -m "second directory"

run() { local t0 t1; t0=$(date +%s.%N); (cd "$repo" && "$bin" qualify --no-publish --run-dir "$work/runs" "$@" >/dev/null 2>&1); t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
seq_a=$(run "$first"); seq_b=$(run "$second")
sequential=$(echo "$seq_a + $seq_b" | bc)
parallel=$(run --jobs 2 "$first" "$second")
printf '%-40s %8.1f s\n' "one after the other (2 runs)" "$sequential" "--jobs 2 (one run)" "$parallel"
