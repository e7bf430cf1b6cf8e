#!/usr/bin/env python3
"""Whole-tree speed: `dcos-images validate`, `list` and `find` on a tree and on
a tree ten times its size built from it, beside a plain Python parse (json +
PyYAML with libyaml, no checks) of the same files.

    cargo build --release && python3 benches/bench.py [TREE] [RUNS]

With DCOS_IMAGES_BASELINE=/path/to/an/older/dcos-images, each command also
runs that binary, its runs interleaved with this one's, and the table says
how much faster this one is: wall times on a shared machine move by a fifth
from one benchmark to the next, so a comparison is only fair inside one run.

TREE defaults to ../shared/corpus/dcos-images (or $DCOS_IMAGES_CORPUS).
A third tree, "+scripts", is TREE with every build directory's provisioner
files and install_dcos_prerequisites.sh present (a few bytes each), as the
public tree has them: the corpus keeps only the data files, so on it every
directory has missing-file findings (871 of its 3,274) that a real tree
does not. The ten-times tree is a temporary copy: copy i > 0 renames each OS directory
`<os>` to `<os><i>` and rotates every hex digit of every image id by i, so
each copy is valid on its own and no image id is shared between copies (the
cross-directory image check finds what it finds in the original, ten times).

Wall time and CPU (user + system, all threads) are medians of RUNS whole-process
runs (start-up included) after one warm-up run, so the files are in the page
cache. Every command of a tree, the floors and Python's parse included, runs
in turn within each round, and each ratio is the median over the rounds of
the two runs' ratio in that round: a shared VM's load drifts from round to
round by more than the differences measured, and a ratio of the two medians
mixes rounds that met different loads. Peak memory is the maximum resident set size, read by GNU time
(/usr/bin/time, Debian package `time`) because a child of this Python process
would inherit the interpreter's own peak.

With a C compiler (`cc`), each tree also gets two rows for benches/io_floor.c
run as a process: a C program that lists every directory on as many threads
as dcos-images uses, parses nothing and exits, reading every file (the
every-file floor), or only the data files, .json, .yaml, .yml and .tfvars,
and the install_dcos_prerequisites.sh scripts (the data floor: what `validate`
must read; the rest it only looks for).
The data floor is the honest bound of a whole-tree command: the column
"this / data floor" is each command's wall time over it.

With DCOS_IMAGES_BENCH_INSTRUCTIONS=1 and valgrind installed, each of
dcos-images' commands (and the baseline's) also runs once under callgrind:
the instructions it executes, all threads, which unlike wall time do not
move with the machine's load.
"""
import glob, json, os, re, shutil, statistics, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
tree = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    "DCOS_IMAGES_CORPUS", os.path.join(root, "..", "shared", "corpus", "dcos-images"))
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
binary = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "dcos-images")
baseline = os.environ.get("DCOS_IMAGES_BASELINE")
gnu_time = shutil.which("time", path="/usr/bin:/bin")
# DCOS_IMAGES_BENCH_INSTRUCTIONS=1: each of dcos-images' commands (and the
# baseline's) also runs once under callgrind, for the instruction column.
valgrind = shutil.which("valgrind") if os.environ.get("DCOS_IMAGES_BENCH_INSTRUCTIONS") else None
if not os.path.isdir(tree):
    sys.exit(f"no tree at {tree}")
if not os.path.exists(binary):
    sys.exit("build first: cargo build --release")

IMAGE_ID = re.compile(r"ami-[0-9a-f]{8,17}")
HEX = "0123456789abcdef"


def rotate(text, i):
    shift = lambda m: "ami-" + "".join(HEX[(HEX.index(c) + i) % 16] for c in m.group(0)[4:])
    return IMAGE_ID.sub(shift, text)


def ten_times(src, dst):
    """Ten copies of `src` side by side in `dst` (see the module's docstring)."""
    for i in range(10):
        for os_dir in sorted(os.listdir(src)):
            s = os.path.join(src, os_dir)
            if not os.path.isdir(s) or os_dir.startswith("."):
                continue
            d = os.path.join(dst, os_dir if i == 0 else f"{os_dir}{i}")
            shutil.copytree(s, d, symlinks=True)
            if i == 0:
                continue
            for path in glob.glob(d + "/**/*", recursive=True):
                if os.path.isfile(path) and not os.path.islink(path) and path.endswith((".json", ".yaml", ".tfvars")):
                    with open(path, encoding="utf-8", errors="surrogateescape") as f:
                        text = f.read()
                    rotated = rotate(text, i)
                    if rotated != text:
                        with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
                            f.write(rotated)
        for name in os.listdir(src):
            if os.path.isfile(os.path.join(src, name)) and i == 0:
                shutil.copy(os.path.join(src, name), os.path.join(dst, name))


def with_scripts(src, dst):
    """`src` copied to `dst` with each build directory's provisioner files
    and install script written where they are missing."""
    shutil.copytree(src, dst, symlinks=True)
    for dirpath, _, files in os.walk(dst):
        if "packer.json" not in files:
            continue
        try:
            with open(os.path.join(dirpath, "packer.json")) as f:
                template = json.load(f)
        except ValueError:
            continue
        wanted = ["install_dcos_prerequisites.sh"]
        for p in template.get("provisioners", []) if isinstance(template, dict) else []:
            for key in ("script", "source"):
                if isinstance(p.get(key), str):
                    wanted.append(p[key])
            wanted += [f for f in p.get("scripts", []) if isinstance(f, str)]
        for name in wanted:
            path = os.path.normpath(os.path.join(dirpath, name))
            if "{{" in name or os.path.isabs(name) or not path.startswith(dirpath) or os.path.exists(path):
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write("#!/bin/sh\nset -e\n")


def measure(*cmds):
    """For each command, (median wall ms, median CPU ms, peak MB or None,
    every round's wall ms); the commands' runs interleaved, so that they
    meet the same load."""
    for cmd in cmds:
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    walls, cpus = [[] for _ in cmds], [[] for _ in cmds]
    for _ in range(runs):
        for k, cmd in enumerate(cmds):
            t = time.perf_counter()
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, _, usage = os.wait4(p.pid, 0)
            walls[k].append((time.perf_counter() - t) * 1000)
            cpus[k].append((usage.ru_utime + usage.ru_stime) * 1000)
    results = []
    for k, cmd in enumerate(cmds):
        peak = None
        if gnu_time:
            with tempfile.NamedTemporaryFile("r") as out:
                subprocess.run([gnu_time, "-f", "%M", "-o", out.name] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                peak = int(out.read().strip().splitlines()[-1]) / 1024
        results.append((statistics.median(walls[k]), statistics.median(cpus[k]), peak, walls[k]))
    return results


def paired(these, those):
    """The median over the rounds of these[i] / those[i]: two commands run
    in the same round met the same load, and a VM's load drifts between
    rounds by more than the differences measured here."""
    return statistics.median(a / b for a, b in zip(these, those))


def instructions(cmd):
    """Millions of instructions `cmd` executes, all threads, counted by
    callgrind: unlike wall time, the same on every run and every machine."""
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run(
            [valgrind, "--tool=callgrind", f"--callgrind-out-file={out.name}"] + cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # validate exits 1 on a tree with errors: the count is what matters
        totals = re.search(r"^(?:totals|summary): (\d+)", open(out.name).read(), re.M)
        return int(totals.group(1)) / 1e6


PY_PARSE = r'''
import glob, json, sys, yaml
root = sys.argv[1]
for p in glob.glob(root + "/**/*.json", recursive=True):
    json.load(open(p))
for p in glob.glob(root + "/**/*.yaml", recursive=True):
    yaml.load(open(p), Loader=yaml.CSafeLoader)
'''


def io_floor(workdir):
    """benches/io_floor.c built into `workdir`, or None without a C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    exe = os.path.join(workdir, "io_floor")
    subprocess.run([cc, "-O2", "-pthread", "-o", exe, os.path.join(root, "benches", "io_floor.c")], check=True)
    return exe


FLOOR_NAME = "C: list and read every file, no parsing (io_floor.c)"
DATA_FLOOR_NAME = "C: list everything, read the data files and install scripts only (io_floor.c data)"


def commands(t, b):
    """(name, argv) of each command, with the binary `b` (None: Python's parse only)."""
    ours = [
        ("validate --format json", ["--root", t, "validate", "--format", "json"]),
        ("list --format json", ["--root", t, "list", "--format", "json"]),
        ("find --os centos --os-version 7.8 --dcos 2.1.1", ["--root", t, "find", "--os", "centos", "--os-version", "7.8", "--dcos", "2.1.1"]),
    ]
    if b is None:
        return [("python3: json + PyYAML (libyaml), parse only", [sys.executable, "-c", PY_PARSE, t])]
    return [(name, [b] + args) for name, args in ours]


def describe(t):
    dirs = len(glob.glob(t + "/**/packer.json", recursive=True))
    files = sum(len(f) for _, _, f in os.walk(t))
    return dirs, files


with tempfile.TemporaryDirectory(prefix="dcos-images-bench-") as work:
    big = os.path.join(work, "10x")
    os.mkdir(big)
    ten_times(tree, big)
    scripts = os.path.join(work, "scripts")
    with_scripts(tree, scripts)
    floor = io_floor(work)
    # As many threads as dcos-images' loader uses (src/tree/mod.rs).
    threads = str(min(os.cpu_count() or 1, 8))
    trees = [("tree", tree), ("+scripts", scripts), ("10x", big)]
    sizes = {label: describe(t) for label, t in trees}
    cpu = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    model = re.search(r"model name\s*:\s*(.*)", cpu)
    print(f"machine: {os.cpu_count()} cores, {model.group(1) if model else 'unknown CPU'}; {runs} runs each, medians")
    for label, _ in trees:
        print(f"{label}: {sizes[label][0]} build directories, {sizes[label][1]} files")
    if not gnu_time:
        print("peak memory: install GNU time (apt-get install time) to measure it")
    if floor is None:
        print("the C floor: install a C compiler (cc) to measure it")
    print()
    header = "| command | tree | wall ms | CPU ms | peak MB | Python parse / this | this / data floor |"
    rule = "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
    if baseline:
        header += " baseline wall ms | baseline / this |"
        rule += " ---: | ---: |"
    if valgrind:
        header += " M instructions |" + (" baseline M instructions |" if baseline else "")
        rule += " ---: |" + (" ---: |" if baseline else "")
    print(header)
    print(rule)
    for label, t in trees:
        ours = commands(t, binary)
        named = list(ours)
        if baseline:
            named += [(f"{name} (baseline)", cmd) for name, cmd in commands(t, baseline)]
        if floor:
            named += [(FLOOR_NAME, [floor, "--process", t, threads]), (DATA_FLOOR_NAME, [floor, "--process", t, threads, "data"])]
        named += commands(t, None)
        measured = dict(zip([name for name, _ in named], measure(*[cmd for _, cmd in named])))
        argv = dict(named)
        data_walls = measured[DATA_FLOOR_NAME][3] if floor else None
        python_walls = measured[named[-1][0]][3]
        for name, _ in named:
            if name.endswith("(baseline)"):
                continue
            wall, cpu_ms, peak, walls = measured[name]
            ratio = "" if name.startswith("python3") else f"{paired(python_walls, walls):.1f}x"
            over_floor = f"{paired(walls, data_walls):.2f}x" if data_walls and not name.startswith(("C:", "python3")) else ""
            peak_s = f"{peak:.1f}" if peak is not None else "n/a"
            line = f"| {name} | {label} | {wall:.1f} | {cpu_ms:.1f} | {peak_s} | {ratio} | {over_floor} |"
            base = measured.get(f"{name} (baseline)")
            if baseline:
                line += f" {base[0]:.1f} | {paired(base[3], walls):.2f}x |" if base else " | |"
            if valgrind:
                ours_cmd = not name.startswith(("C:", "python3"))
                line += f" {instructions(argv[name]):.1f} |" if ours_cmd else " |"
                if baseline:
                    line += f" {instructions(argv[name + ' (baseline)']):.1f} |" if base else " |"
            print(line)
