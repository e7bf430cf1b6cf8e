#!/usr/bin/env python3
"""Whole-tree speed: `dcos-images validate` and `list` over the corpus, beside a
plain Python parse (json + PyYAML with libyaml) of the same files.

    cargo build --release && python3 scripts/bench.py [CORPUS] [RUNS]

Each figure is the median wall time of RUNS whole-process runs (start-up
included), after one warm-up run so the files are in the page cache.
"""
import glob, json, os, statistics, subprocess, sys, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
corpus = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    "DCOS_IMAGES_CORPUS", os.path.join(root, "..", "shared", "corpus", "dcos-images"))
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
binary = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "dcos-images")
if not os.path.isdir(corpus):
    sys.exit(f"no corpus at {corpus}")
if not os.path.exists(binary):
    sys.exit("build first: cargo build --release")

def timed(cmd):
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples), min(samples)

PY_PARSE = r'''
import glob, json, sys, yaml
root = sys.argv[1]
for p in glob.glob(root + "/**/*.json", recursive=True):
    json.load(open(p))
for p in glob.glob(root + "/**/*.yaml", recursive=True):
    yaml.load(open(p), Loader=yaml.CSafeLoader)
'''

n_dirs = len(glob.glob(corpus + "/**/packer.json", recursive=True))
n_files = sum(len(f) for _, _, f in os.walk(corpus))
print(f"corpus: {n_dirs} build directories, {n_files} files; {runs} runs each; {os.cpu_count()} cores")
print(f"{'command':<58} {'median ms':>10} {'min ms':>8}")
for label, cmd in [
    ("dcos-images validate (all checks)", [binary, "--root", corpus, "validate", "--format", "json"]),
    ("dcos-images list --format json", [binary, "--root", corpus, "list", "--format", "json"]),
    ("dcos-images find --os centos --os-version 7.8 --dcos 2.1.1", [binary, "--root", corpus, "find", "--os", "centos", "--os-version", "7.8", "--dcos", "2.1.1"]),
    ("python3: json + PyYAML(libyaml) parse only, no checks", [sys.executable, "-c", PY_PARSE, corpus]),
    ("python3 -c pass (interpreter start-up alone)", [sys.executable, "-c", "pass"]),
]:
    med, lo = timed(cmd)
    print(f"{label:<58} {med:>10.1f} {lo:>8.1f}")
