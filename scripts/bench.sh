#!/usr/bin/env bash
# Engine benchmark (bench/README.md): `peergate check` on a synthetic cluster against the cost of
# merely reading the same file with Python's json.load, in the same run.
#
#   bash scripts/bench.sh            full scale: 10,000 namespaces, 100,000 pods, 20,000
#                                    PeerAuthentications, 5,000 DestinationRules
#   bash scripts/bench.sh --quick    the same at 1/10 scale (smoke run, ~1 min)
#
# Options: --runs N (default 3, the median is reported), --skip-build (use the binaries already in
# build/release), --no-scaling (skip the 1/4 and 1/2 scale runs), --seed N (default 1).
# Environment: PEERGATE=path overrides the peergate binary.
# Output: a table on stdout, and bench/out/engine.json (engine-quick.json with --quick).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

orig_args="$*"
quick=0 runs=3 build=1 scaling=1 seed=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --runs) runs="${2:?--runs needs a number}"; shift ;;
    --skip-build) build=0 ;;
    --no-scaling) scaling=0 ;;
    --seed) seed="${2:?--seed needs a number}"; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (try --help)" >&2; exit 64 ;;
  esac
  shift
done

log() { echo "bench.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# --- tools ------------------------------------------------------------------------------------
if [[ ! -x /usr/bin/time ]]; then
  log "installing GNU time"
  if [[ $(id -u) -eq 0 ]]; then
    apt-get install -y -qq time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
  else
    sudo apt-get install -y -qq time >/dev/null
  fi
fi
command -v python3 >/dev/null || die "python3 is required (it is the baseline)"

# --- build ------------------------------------------------------------------------------------
if [[ $build -eq 1 ]]; then
  log "building the release preset"
  cmake --preset release >/dev/null
  cmake --build build/release -j2 --target peergate peergate_bench_gen
fi
gen="$root/build/release/bench/peergate_bench_gen"
peergate="${PEERGATE:-$root/build/release/cli/peergate}"
[[ -x "$gen" ]] || die "$gen is missing (run without --skip-build)"
[[ -x "$peergate" ]] || die "$peergate is missing (run without --skip-build)"

# --- inputs -----------------------------------------------------------------------------------
out="$root/bench/out"
mkdir -p "$out"
# Full scale, divided by `divisor` (10 with --quick); the scaling check runs at 1/4 and 1/2 of it.
divisor=$((quick ? 10 : 1))
# Files are keyed by the generator's source, so a changed generator never reuses a stale file.
gen_rev="$(sha256sum bench/engine/generate_cluster.cc | cut -c1-8)"

# generate FRACTION_DENOMINATOR -> prints the path of the cluster file at 1/(divisor*d) scale
generate() {
  local d=$((divisor * $1))
  local ns=$((10000 / d)) pods=$((100000 / d)) pas=$((20000 / d)) drs=$((5000 / d))
  local file="$out/cluster-${pods}pods-seed${seed}-${gen_rev}.json"
  if [[ ! -s "$file" ]]; then
    log "generating $file"
    "$gen" --namespaces "$ns" --pods "$pods" --policies "$pas" --destination-rules "$drs" \
      --seed "$seed" --out "$file.tmp" >&2
    mv "$file.tmp" "$file"
  fi
  echo "$file"
}

# --- measurement ------------------------------------------------------------------------------
# measure NAME FILE -> appends "seconds rss_kb exit cpu_seconds" to $samples/NAME
samples="$(mktemp -d)"
trap 'rm -rf "$samples"' EXIT

# Wall time comes from bash's EPOCHREALTIME (microseconds; GNU time's %e has only 1/100 s), the
# peak RSS and the CPU time (user + system) from GNU time. On a busy machine wall time includes
# waiting for a core; CPU time does not, so both are reported.
measure() {
  local name="$1" file="$2" status=0 start end
  local timing="$samples/$name.time" errors="$samples/$name.err"
  start=$EPOCHREALTIME
  case "$name" in
    baseline*)
      /usr/bin/time -f '%e %M %U %S' -o "$timing" \
        python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$file" 2>"$errors" || status=$?
      ;;
    *)
      /usr/bin/time -f '%e %M %U %S' -o "$timing" \
        "$peergate" check -f "$file" -o json >/dev/null 2>"$errors" || status=$?
      ;;
  esac
  end=$EPOCHREALTIME
  # GNU time prints "Command exited with non-zero status N" first; keep the last line.
  if [[ $status -ne 0 && ! ($name == peergate* && $status -eq 79) ]]; then
    log "$name failed with exit $status on $file:"
    tail -n 20 "$errors" >&2
    exit 1
  fi
  local seconds rss_kb cpu
  seconds="$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f", b - a}')"
  rss_kb="$(tail -n 1 "$timing" | cut -d' ' -f2)"
  cpu="$(tail -n 1 "$timing" | awk '{printf "%.2f", $3 + $4}')"
  echo "$seconds $rss_kb $status $cpu" >>"$samples/$name"
}

# median NAME COLUMN -> the median of column COLUMN (1 seconds, 2 rss_kb, 4 cpu) of NAME's samples
median() {
  sort -n -k"$2","$2" "$samples/$1" | awk -v c="$2" '{v[NR]=$c} END {print v[int((NR+1)/2)]}'
}

full="$(generate 1)"
log "measuring $runs runs each on $(basename "$full") ($(stat -c %s "$full") bytes)"
# One untimed run warms the page cache for both tools and keeps peergate's report for the record.
status=0
"$peergate" check -f "$full" -o json >"$out/check-report.json" 2>"$samples/warmup.err" || status=$?
if [[ $status -ne 0 && $status -ne 79 ]]; then
  log "peergate check failed with exit $status:"
  tail -n 20 "$samples/warmup.err" >&2
  exit 1
fi
for ((i = 1; i <= runs; i++)); do  # interleaved, so drift hits both alike
  measure baseline "$full"
  measure peergate-1 "$full"
  log "run $i/$runs (wall s, KB, exit, CPU s): baseline $(tail -n 1 "$samples/baseline")," \
    "peergate $(tail -n 1 "$samples/peergate-1")"
done

scale_points=(1)
if [[ $scaling -eq 1 ]]; then
  for d in 4 2; do
    file="$(generate "$d")"
    "$peergate" check -f "$file" -o json >/dev/null 2>&1 || true  # warm the page cache
    for ((i = 1; i <= runs; i++)); do measure "peergate-$d" "$file"; done
  done
  scale_points=(4 2 1)
fi

# --- report -----------------------------------------------------------------------------------
scaling_rows=""
for d in "${scale_points[@]}"; do
  file="$(generate "$d")"
  scaling_rows+="$d $((100000 / (divisor * d))) $(stat -c %s "$file") $(median "peergate-$d" 1)"
  scaling_rows+=" $(median "peergate-$d" 2) $(median "peergate-$d" 4)"$'\n'
done
report="$out/engine.json"
[[ $quick -eq 1 ]] && report="$out/engine-quick.json"

load="$(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$report" "$full" "$runs" "$quick" "$(median baseline 1)" "$(median baseline 2)" \
  "$(median baseline 4)" "$(median peergate-1 1)" "$(median peergate-1 2)" "$(median peergate-1 4)" \
  "$(cut -d' ' -f3 "$samples/peergate-1" | sort -u | tr '\n' ' ')" \
  "$out/check-report.json" "$scaling_rows" "$orig_args" "$load" <<'PY'
import datetime, json, os, platform, sys

(report, full, runs, quick, b_s, b_kb, b_cpu, p_s, p_kb, p_cpu, p_exit, check_report,
 scaling_rows, argv, load) = sys.argv[1:]
size = os.path.getsize(full)
mb = lambda kb: float(kb) / 1024
ratio_time = float(p_s) / float(b_s) if float(b_s) > 0 else float("inf")
ratio_cpu = float(p_cpu) / float(b_cpu) if float(b_cpu) > 0 else float("inf")
rss_ratio = float(p_kb) * 1024 / size

summary = None
try:
    with open(check_report) as f:
        summary = json.load(f).get("summary")
except (OSError, ValueError, AttributeError):
    pass

cpu = "unknown"
try:
    with open("/proc/cpuinfo") as f:
        cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
except (OSError, StopIteration):
    pass

scaling = []
for row in scaling_rows.strip().splitlines():
    d, pods, nbytes, secs, kb, cpu_s = row.split()
    scaling.append({"fraction": f"1/{d}" if d != "1" else "1", "pods": int(pods),
                    "file_bytes": int(nbytes), "seconds": float(secs), "cpu_seconds": float(cpu_s),
                    "peak_rss_kb": int(kb),
                    "us_per_pod": float(secs) * 1e6 / int(pods)})

result = {
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "machine": {"cores": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
                "load_average_after": load},
    "command": "bash scripts/bench.sh" + (" " + argv if argv else ""),
    "scale": "1/10" if quick == "1" else "1",
    "runs": int(runs),
    "file": {"path": os.path.relpath(full), "bytes": size},
    "baseline": {"command": "python3 -c 'import json,sys; json.load(open(sys.argv[1]))' FILE",
                 "seconds": float(b_s), "cpu_seconds": float(b_cpu), "peak_rss_kb": int(b_kb)},
    "peergate": {"command": "peergate check -f FILE -o json > /dev/null",
                 "seconds": float(p_s), "cpu_seconds": float(p_cpu), "peak_rss_kb": int(p_kb),
                 "exit_codes": [int(c) for c in p_exit.split()], "summary": summary},
    "ratio_time": round(ratio_time, 3),
    "ratio_cpu_time": round(ratio_cpu, 3),
    "rss_over_file_size": round(rss_ratio, 3),
    "targets": {"ratio_time": 1.0, "rss_over_file_size": 3.0},
    "meets_targets": ratio_time <= 1.0 and rss_ratio <= 3.0,
    "scaling": scaling,
}
with open(report, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")

ok = lambda good: "ok" if good else "MISSED"
print(f"\nengine benchmark ({result['scale']} scale, median of {runs}, {result['date']})")
print(f"  file                 {os.path.relpath(full)}  {size / 1e6:.1f} MB")
print(f"  {'':20} {'wall s':>9} {'CPU s':>9} {'peak RSS MB':>12}")
print(f"  {'python json.load':20} {float(b_s):9.3f} {float(b_cpu):9.2f} {mb(b_kb):12.1f}")
print(f"  {'peergate check':20} {float(p_s):9.3f} {float(p_cpu):9.2f} {mb(p_kb):12.1f}"
      f"   exit {p_exit.strip()}")
print(f"  time ratio peergate/baseline  {ratio_time:6.2f}   (target <= 1.0: {ok(ratio_time <= 1.0)})")
print(f"  CPU-time ratio                {ratio_cpu:6.2f}   (load average {load})")
print(f"  peak RSS / file size          {rss_ratio:6.2f}   (target <= 3.0: {ok(rss_ratio <= 3.0)})")
if summary is not None:
    print(f"  check summary: {json.dumps(summary, separators=(',', ':'))}")
if len(scaling) > 1:
    print("\n  linear scaling (peergate check; time per pod should be flat)")
    print(f"  {'scale':>6} {'pods':>8} {'file MB':>8} {'wall s':>8} {'CPU s':>8} {'RSS MB':>8}"
          f" {'us/pod':>8} {'CPU us/pod':>10}")
    for s in scaling:
        print(f"  {s['fraction']:>6} {s['pods']:8d} {s['file_bytes'] / 1e6:8.1f} "
              f"{s['seconds']:8.3f} {s['cpu_seconds']:8.2f} {s['peak_rss_kb'] / 1024:8.1f} "
              f"{s['us_per_pod']:8.2f} {s['cpu_seconds'] * 1e6 / s['pods']:10.2f}")
print(f"\n  written to {os.path.relpath(report)}")
PY
