"""Summary of scripts/bench-proxy.sh: medians over the rounds, and issue 4's targets judged on
the median of per-round comparisons.

    python3 bench/proxy/summarize.py RESULTS.jsonl OUT.json META-JSON

RESULTS.jsonl has one JSON object per measurement (target, metric, round, the client's figures,
wall_s and the proxies' proxy_cpu_s). Prints markdown tables and writes OUT.json with the
metadata, every run, the medians and the target checks.
"""
import json
import statistics
import sys


def medians(rows):
    grouped = {}
    for row in rows:
        grouped.setdefault((row["target"], row["metric"]), []).append(row)
    result = {}
    for (target, metric), runs in grouped.items():
        fields = {}
        for key, value in runs[0].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "round":
                fields[key] = statistics.median(r[key] for r in runs)
        result.setdefault(target, {})[metric] = fields
    return result


def by_round(rows, metric, field, target):
    return {r["round"]: r[field] for r in rows
            if r["metric"] == metric and r["target"] == target and field in r}


def per_round(rows, metric, field, combine, a="peergate", b="haproxy"):
    """combine(a's value, b's value) in each round that has both, in round order: the targets
    alternate within a round, so this compares them under the same machine conditions (the
    machine's own speed drifts between rounds, by more than the differences looked for)."""
    ours, theirs = by_round(rows, metric, field, a), by_round(rows, metric, field, b)
    return [combine(ours[n], theirs[n]) for n in sorted(ours) if n in theirs and theirs[n]]


def cpu_per_1000(m, metric, rate_key):
    """Share of one core (%) the two proxies use per 1000 req/s."""
    r = m.get(metric)
    if not r or not r.get(rate_key) or not r.get("wall_s"):
        return None
    return r["proxy_cpu_s"] / r["wall_s"] * 100 / (r[rate_key] / 1000)


def fmt(value, digits=1):
    return "–" if value is None else f"{value:,.{digits}f}"


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def get(med, target, metric, field):
    return med.get(target, {}).get(metric, {}).get(field)


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    meta = json.loads(sys.argv[3])
    med = medians(rows)
    targets = ["direct", "peergate", "haproxy", "stunnel"]

    lines = ["| measure | direct | peergate | haproxy | stunnel | peergate / haproxy | "
             "peergate / stunnel |", "|---|---|---|---|---|---|---|"]

    def row(label, metric, field, digits=1, lower_is_better=False):
        values = [get(med, t, metric, field) for t in targets]
        note = " (lower is better)" if lower_is_better else ""
        ratios = [ratio(values[1], baseline) for baseline in values[2:]]
        lines.append(f"| {label} | " + " | ".join(fmt(v, digits) for v in values) + " | " +
                     " | ".join(fmt(r, 2) + (note if r else "") for r in ratios) + " |")

    row("iperf3 1 stream, Gbit/s", "throughput", "gbit_s", 2)
    for c in (1, 64):
        row(f"wrk {c} conn, req/s", f"wrk_c{c}", "rps", 0)
        row(f"wrk {c} conn, p50 µs", f"wrk_c{c}", "p50_us", 0, True)
        row(f"wrk {c} conn, p99 µs", f"wrk_c{c}", "p99_us", 0, True)
    row("1000 req/s (8 conns), achieved", "rate_1000", "achieved_rps", 0)
    row("1000 req/s, p50 µs", "rate_1000", "p50_us", 0, True)
    row("1000 req/s, p99 µs", "rate_1000", "p99_us", 0, True)
    row("new connections/s (8 at a time)", "connect_c8", "per_second", 0)
    row("new connection p50 µs (8 at a time)", "connect_c8", "p50_us", 0, True)
    cpu_rate = {t: cpu_per_1000(med.get(t, {}), "rate_1000", "achieved_rps") for t in targets}
    cpu_sat = {t: cpu_per_1000(med.get(t, {}), "wrk_c64", "rps") for t in targets}
    for label, cpu in (("CPU of the 2 proxies per 1000 req/s at 1000 req/s, % of a core", cpu_rate),
                       ("… at saturation (wrk 64 conns)", cpu_sat)):
        lines.append(f"| {label} | – | " +
                     " | ".join(fmt(cpu[t], 2) for t in targets[1:]) + " | " +
                     " | ".join(f"{fmt(ratio(cpu['peergate'], cpu[t]), 2)} (lower is better)"
                                for t in targets[2:]) + " |")

    idle = {}
    for t in ("peergate", "haproxy"):
        r = med.get(t, {}).get("idle")
        if r and r.get("established"):
            per_conn = (r["rss_held_kib"] - r["rss_before_kib"]) / r["established"]
            idle[t] = {"established": r["established"], "per_connection_kib": per_conn,
                       "held_mib": r["rss_held_kib"] / 1024,
                       "projected_10000_mib": (r["rss_before_kib"] + per_conn * 10000) / 1024,
                       "after_close_mib": r["rss_after_close_kib"] / 1024}
    n = idle.get("peergate", {}).get("established", meta.get("idle_connections"))
    for key, label, digits in (("per_connection_kib", "KiB per idle connection (2 proxies)", 1),
                               ("held_mib", f"RSS of the 2 proxies holding {n} idle conns, MiB", 1),
                               ("projected_10000_mib", "… projected to 10,000 idle conns, MiB", 1),
                               ("after_close_mib", "… after they closed, MiB", 1)):
        pg, ha = idle.get("peergate", {}).get(key), idle.get("haproxy", {}).get(key)
        lines.append(f"| {label} | – | {fmt(pg, digits)} | {fmt(ha, digits)} | – | "
                     f"{fmt(ratio(pg, ha), 2)} (lower is better) | – |")

    def check(name, measured, met, target, rounds=None):
        return {"name": name, "measured": measured, "target": target, "met": met, "rounds": rounds}

    # Ratio and latency targets are judged on the median of per-round comparisons.
    def round_check(name, metric, field, combine, met, target, a="peergate", b="haproxy"):
        rounds = per_round(rows, metric, field, combine, a, b)
        measured = statistics.median(rounds) if rounds else None
        return check(name, measured, measured is not None and met(measured), target, rounds)

    at_least_one = lambda value: value >= 1.0
    no_slower = lambda value: value <= 0
    within_sniff_budget = lambda value: value <= 30
    divide = lambda ours, theirs: ours / theirs
    subtract = lambda ours, theirs: ours - theirs
    projected = idle.get("peergate", {}).get("projected_10000_mib")
    checks = [
        round_check("throughput peergate/haproxy", "throughput", "gbit_s", divide, at_least_one,
                    "≥ 1.0 (goal 1.2)"),
        round_check("req/s at 64 conns peergate/haproxy", "wrk_c64", "rps", divide, at_least_one,
                    "≥ 1.0 (goal 1.2)"),
        round_check("req/s at 1 conn peergate/haproxy", "wrk_c1", "rps", divide, at_least_one,
                    "≥ 1.0 (goal 1.2)"),
        # The direct run's p50 is the same for both, so added p50 compares as p50 itself.
        round_check("added p50 at 1 conn: peergate − haproxy, µs", "wrk_c1", "p50_us", subtract,
                    no_slower, "≤ 0"),
        round_check("added p50 at 1000 req/s: peergate − haproxy, µs", "rate_1000", "p50_us",
                    subtract, no_slower, "≤ 0"),
        round_check("PERMISSIVE − STRICT p50 per new connection, µs", "connect_c1", "p50_us",
                    subtract, within_sniff_budget, "≤ +30", "peergate-permissive", "peergate"),
        round_check("PERMISSIVE − STRICT p50 keep-alive request, µs", "sniff_wrk_c1", "p50_us",
                    subtract, within_sniff_budget, "≤ +30", "peergate-permissive", "peergate"),
        round_check("new mTLS conns/s peergate/haproxy", "connect_c8", "per_second", divide,
                    at_least_one, "≥ 1.0"),
        check("RSS of the pair with 10,000 idle conns, MiB", projected,
              projected is not None and projected < 100, "< 100"),
    ]
    lines += ["", "Targets: the median of the per-round comparisons (rounds in brackets).", "",
              "| target | measured | wanted | |", "|---|---|---|---|"]
    for c in checks:
        shown = fmt(c["measured"], 2)
        if c["rounds"]:
            shown += " (rounds " + ", ".join(fmt(x, 2) for x in c["rounds"]) + ")"
        lines.append(f"| {c['name']} | {shown} | {c['target']} | {'met' if c['met'] else '**missed**'} |")
    lines.append("")
    lines.append(f"{meta['date']}, commit {meta['commit']}, {meta['cores']} cores, load average "
                 f"{meta['load_before']} before / {meta['load_after']} after, {meta['rounds']} round(s) "
                 f"of {meta['duration_s']} s runs (medians), {meta['idle_connections']} idle connections, "
                 f"{meta.get('peergate_outbound_tls_resumptions')} resumed outbound handshakes")
    print("\n".join(lines))
    with open(sys.argv[2], "w") as out:
        json.dump({"meta": meta, "medians": med, "idle": idle, "cpu_percent_per_1000_rps":
                   {"at_1000_rps": cpu_rate, "at_saturation": cpu_sat}, "checks": checks,
                   "runs": rows}, out, indent=1)


main()
