#!/usr/bin/env python3
"""Samples the gateway while bench/gateway/run.sh overloads it (bench/gateway/README.md).

Every --interval seconds: GET /metrics with the admin key (LLM queue depth, in-flight, limit,
requests by outcome, the process RSS gauge) and VmRSS from /proc/PID/status. One JSON object per
line to --out, with the wall-clock time; stops on SIGTERM/SIGINT.

  monitor.py --url http://127.0.0.1:PORT --key-file KEY --pid PID --out FILE [--interval 0.2]
"""
import argparse
import json
import re
import signal
import sys
import time
import urllib.request

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$')
LABEL = re.compile(r'(\w+)="([^"]*)"')


def scrape(url, key):
    req = urllib.request.Request(url + "/metrics", headers={"Authorization": "Bearer " + key})
    with urllib.request.urlopen(req, timeout=2) as r:
        text = r.read().decode()
    out = {"outcomes": {}}
    gauges = {"deepkb_llm_queue_depth": "queue_depth", "deepkb_llm_in_flight": "in_flight",
              "deepkb_llm_concurrency_limit": "limit",
              "deepkb_process_resident_memory_bytes": "rss_metric_bytes"}
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        name, labels, value = m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))
        if name in gauges:
            out[gauges[name]] = out.get(gauges[name], 0) + value  # summed over upstreams
        elif name == "deepkb_llm_requests_total":
            out["outcomes"][labels.get("outcome", "?")] = (
                out["outcomes"].get(labels.get("outcome", "?"), 0) + value)
    return out


def vm_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--key-file", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--interval", type=float, default=0.2)
    a = ap.parse_args()
    key = open(a.key_file).read().strip()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    with open(a.out, "w") as out:
        next_t = time.monotonic()
        while not stop:
            sample = {"wall": time.time()}
            try:
                sample.update(scrape(a.url, key))
            except Exception as e:  # a scrape that fails is recorded, not fatal
                sample["error"] = str(e)
            sample["vm_rss_kb"] = vm_rss_kb(a.pid)
            out.write(json.dumps(sample) + "\n")
            out.flush()
            next_t += a.interval
            time.sleep(max(0.0, next_t - time.monotonic()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
