#!/usr/bin/env python3
"""Turns the files bench/gateway/run.sh writes into the Markdown tables of its README.

  report.py RESULTS_DIR [--queue-bound 16] [--max-concurrency 8] [--factor 3]
"""
import argparse
import glob
import json
import os
import re


def pct(values, p):
    """Nearest rank, as deepkb_load computes it."""
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(p * len(v)))]


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def table_header(columns):
    """A Markdown table's header row and separator."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def pooled_samples(results, path, stream, conc):
    values = []
    pattern = os.path.join(results, "samples", f"{path}-{'true' if stream else 'false'}-c{conc}-r*.txt")
    for name in sorted(glob.glob(pattern)):
        with open(name) as f:
            values.extend(float(x) for x in f if x.strip())
    return values


def latency_section(results, machine):
    cells = read_jsonl(os.path.join(results, "latency.jsonl"))
    nproc = machine["nproc"]
    out = []
    paths = ["direct", "gateway", "alias"]
    out.append("### Latency per request (ms, service time: sent → last byte), pooled over rounds\n")
    out += table_header(["answer", "conc.", "requests per path", "direct P50", "direct P99",
                         "gateway P50", "gateway P99", "alias P50", "alias P99",
                         "**gateway − direct** P50 / P99", "alias − direct P50 / P99"])
    for stream in (False, True):
        for conc in machine["concurrency"]:
            stats = {}
            for p in paths:
                s = pooled_samples(results, p, stream, conc)
                stats[p] = (len(s), pct(s, 0.50), pct(s, 0.99))
            n = "/".join(str(stats[p][0]) for p in paths)
            if len({stats[p][0] for p in paths}) == 1:
                n = str(stats["direct"][0])
            d, g, a = stats["direct"], stats["gateway"], stats["alias"]
            out.append(
                f"| {'stream (to last byte)' if stream else 'non-streaming'} | {conc} | {n} | "
                f"{d[1]:.3f} | {d[2]:.3f} | {g[1]:.3f} | {g[2]:.3f} | {a[1]:.3f} | {a[2]:.3f} | "
                f"**{g[1] - d[1]:+.3f} / {g[2] - d[2]:+.3f}** | {a[1] - d[1]:+.3f} / {a[2] - d[2]:+.3f} |")
    out.append("")
    out.append("### Where the time goes (sums over the rounds of each cell)\n")
    out.append("CPU µs per request: CPU time of each process during the measured phase (from "
               "/proc/PID/stat, 10 ms ticks) ÷ requests. *Busy* = (gateway + fake + client CPU) ÷ "
               f"(wall time × {nproc} CPUs): near 100% the three processes saturate the machine and "
               "latency includes waiting for a core. *Connects/req*: TCP connections opened in the "
               "network namespace per request, warm-up included (all processes on the machine); "
               "*listen overflows*: connections dropped because a listen backlog was full (the "
               "client retries its SYN after 1 s); *≥ 1 s*: measured requests that took 0.9 s or "
               "more; *non-200*: failed requests (transport errors, not in the latency figures).\n")
    out += table_header(["answer", "conc.", "path", "req/s", "gateway CPU µs/req",
                         "fake CPU µs/req", "client CPU µs/req", "busy", "connects/req",
                         "listen overflows", "≥ 1 s", "non-200", "load avg"])
    for stream in (False, True):
        for conc in machine["concurrency"]:
            for p in paths:
                cs = [c for c in cells if c["path"] == p and c["stream"] == stream
                      and c["concurrency"] == conc]
                if not cs:
                    continue
                ok = sum(c["client"]["ok"] for c in cs)
                secs = sum(c["client"]["seconds"] for c in cs)
                gw_cpu = sum(c["client"]["server_cpu_s"][0] for c in cs)
                fake_cpu = sum(c["client"]["server_cpu_s"][1] for c in cs)
                cl_cpu = sum(c["client"]["client_cpu_s"] for c in cs)
                resp = sum(c["client"]["responses"] for c in cs)
                sent = resp + sum(c["client"]["warmup"] for c in cs)
                stalls = sum(1 for x in pooled_samples(results, p, stream, conc) if x >= 900)
                opens = sum(c["tcp_active_opens"] for c in cs)
                overflows = sum(c["listen_overflows"] for c in cs)
                load = max(c["loadavg"] for c in cs)
                per = lambda x: f"{1e6 * x / ok:.0f}" if ok else "–"
                busy = (gw_cpu + fake_cpu + cl_cpu) / (secs * nproc)
                out.append(
                    f"| {'stream' if stream else 'non-stream'} | {conc} | {p} | {ok / secs:,.0f} | "
                    f"{per(gw_cpu)} | {per(fake_cpu)} | {per(cl_cpu)} | {100 * busy:.0f}% | "
                    f"{opens / max(1, sent):.2f} | {overflows} | {stalls} | {resp - ok} | "
                    f"{load:.1f} |")
    out.append("")
    return out


def overload_section(results, queue_bound, max_conc, factor):
    cap = json.load(open(os.path.join(results, "overload_capacity.json")))
    ov = json.load(open(os.path.join(results, "overload.json")))
    mon = read_jsonl(os.path.join(results, "overload_monitor.jsonl"))
    t0 = float(open(os.path.join(results, "overload_start_wall.txt")).read()) + 0.05
    t_end = t0 + ov["seconds"]
    during = [m for m in mon if t0 <= m["wall"] <= t_end and "error" not in m]
    before = [m for m in mon if m["wall"] < t0 and "error" not in m]
    after = [m for m in mon if m["wall"] > t_end and "error" not in m]
    errors = sum(1 for m in mon if "error" in m)

    def rss_at(t):  # VmRSS (MB) of the sample nearest to t seconds after the start
        m = min(mon, key=lambda m: abs(m["wall"] - (t0 + t)))
        return m["vm_rss_kb"] / 1024

    st = ov["statuses"]
    resp = ov["responses"]
    n429, n503 = st.get("429", 0), st.get("503", 0)
    other = resp - ov["ok"] - n429 - n503
    qmax = max((m.get("queue_depth", 0) for m in during), default=float("nan"))
    fmax = max((m.get("in_flight", 0) for m in during), default=float("nan"))
    lims = sorted({m.get("limit", 0) for m in during})
    out = ["### Overload summary\n"]
    rows = [
        ("capacity (closed loop, 8 connections, "
         f"{cap['seconds']:.0f} s)", f"{cap['ok_rps']:.2f} req/s; service P50 "
         f"{cap['ok_service_p50_ms']:.0f} ms, P99 {cap['ok_service_p99_ms']:.0f} ms"),
        ("offered (open loop, 128 connections)",
         f"{ov['offered_rps']} req/s = {factor}× capacity for {ov['seconds']:.1f} s; "
         f"{resp} responses; client late starts {ov['late_starts']}"),
        ("goodput (200 with [DONE])",
         f"{ov['ok_rps']:.2f} req/s = {100 * ov['ok_rps'] / cap['ok_rps']:.0f}% of capacity"),
        ("rejected", f"{ov['refused']} = {100 * ov['refused'] / max(1, resp):.1f}% of responses "
                     f"({n429} × 429, {n503} × 503); without Retry-After: "
                     f"{ov['refused_without_retry_after']}; other: {other} {st}"),
        ("rejection latency (sent → response)",
         f"P50 {ov['refused_service_p50_ms']:.2f} ms, P99 {ov['refused_service_p99_ms']:.2f} ms"),
        ("rejection latency (scheduled → response)",
         f"P50 {ov['refused_p50_ms']:.2f} ms, P99 {ov['refused_p99_ms']:.2f} ms"),
        ("admitted latency (scheduled → last byte)",
         f"P50 {ov['ok_p50_ms']:.0f} ms, P90 {ov['ok_p90_ms']:.0f} ms, P99 {ov['ok_p99_ms']:.0f} ms,"
         f" max {ov['ok_max_ms']:.0f} ms; bound = capacity service P50 × (1 + queue ÷ "
         f"concurrency) = {cap['ok_service_p50_ms'] * (1 + queue_bound / max_conc):.0f} ms"),
        ("queue depth (sampled every 0.2 s)",
         f"max {qmax:.0f} (bound {queue_bound}); in flight max {fmax:.0f} (max-concurrency "
         f"{max_conc}); limit {', '.join(f'{x:g}' for x in lims)}; {len(during)} samples, "
         f"{errors} failed scrapes"),
        ("gateway RSS (VmRSS)",
         f"idle before {before[-1]['vm_rss_kb'] / 1024 if before else float('nan'):.1f} MB → "
         f"after 10 s {rss_at(10):.1f} MB → end of load {rss_at(ov['seconds']):.1f} MB → "
         f"after drain {after[-1]['vm_rss_kb'] / 1024 if after else float('nan'):.1f} MB "
         f"(server during load: {ov['server_rss_kb_before'] / 1024:.1f} → "
         f"{ov['server_rss_kb_after'] / 1024:.1f} MB)"),
        ("CPU during the load",
         f"gateway {100 * ov['server_cpu_s'][0] / ov['seconds']:.0f}% of a core, fake "
         f"{100 * ov['server_cpu_s'][1] / ov['seconds']:.0f}%, client "
         f"{100 * ov['client_cpu_s'] / ov['seconds']:.0f}%"),
    ]
    end_path = os.path.join(results, "overload_metrics_end.txt")
    if os.path.exists(end_path):
        counts = {}
        for line in open(end_path):
            m = re.match(r'deepkb_llm_requests_total\{.*outcome="(\w+)"\}\s+(\S+)', line)
            if m:
                counts[m.group(1)] = int(float(m.group(2)))
        rows.append(("gateway's own count (deepkb_llm_requests_total, whole run)",
                     ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))))
    out += table_header(["", ""])
    out.extend(f"| {k} | {v} |" for k, v in rows)
    out.append("")
    out.append("### Overload, second by second\n")
    out.append("Responses by completion second; queue depth, in-flight and RSS sampled every 0.2 s "
               "(max within the second; RSS at its end).\n")
    out += table_header(["s", "200", "429", "503", "other", "200 P50 ms", "200 max ms", "queue max",
                         "in flight max", "RSS MB"])
    for row in ov.get("per_second", []):
        t = row["t"]
        ms = [m for m in during if t0 + t <= m["wall"] < t0 + t + 1]
        q = max((m.get("queue_depth", 0) for m in ms), default=float("nan"))
        f = max((m.get("in_flight", 0) for m in ms), default=float("nan"))
        rss = ms[-1]["vm_rss_kb"] / 1024 if ms else float("nan")
        out.append(f"| {t} | {row['ok']} | {row['r429']} | {row['r503']} | {row['other']} | "
                   f"{row['ok_p50_ms']:.0f} | {row['ok_max_ms']:.0f} | {q:.0f} | {f:.0f} | "
                   f"{rss:.1f} |")
    out.append("")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--queue-bound", type=int, default=16)
    ap.add_argument("--max-concurrency", type=int, default=8)
    ap.add_argument("--factor", default="3")
    a = ap.parse_args()
    machine = json.load(open(os.path.join(a.results, "machine.json")))
    lines = [f"## Run of {machine['date_utc']} UTC{' (--quick)' if machine['quick'] else ''}\n",
             f"Machine: {machine['nproc']} CPUs ({machine['cpu_model']}); load average "
             f"{machine['loadavg_start']} at the start, {machine.get('loadavg_end', '?')} at the "
             "end. Fake upstream, gateway and load client all ran on this machine. "
             f"{machine['requests_per_cell_round']} measured requests per cell and round, "
             f"{machine['rounds']} rounds.\n"]
    lines += latency_section(a.results, machine)
    lines += overload_section(a.results, a.queue_bound, a.max_concurrency, a.factor)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
