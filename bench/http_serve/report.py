#!/usr/bin/env python3
"""Markdown table of a bench/http_serve results folder (bench_<mode>_c<C>_t<T>.json).

mode = drafter, or drafter_host for runs with --host-sampling. Usage: report.py DIR
"""
import json
import pathlib
import re
import sys

ROW = re.compile(r"bench_(?P<mode>.+)_c(?P<c>\d+)_t(?P<t>[\d.]+)\.json$")


def main():
    rows = []
    for path in sorted(pathlib.Path(sys.argv[1]).glob("bench_*.json")):
        m = ROW.search(path.name)
        if not m:
            continue
        r = json.loads(path.read_text())
        mode = m["mode"]
        drafter, sampling = (mode[:-5], "host") if mode.endswith("_host") else (mode, "device")
        acc = (f"{r['accepted_tokens'] / r['draft_tokens']:.2f}" if r.get("draft_tokens") else "–")
        rows.append((drafter, int(m["c"]), float(m["t"]), sampling, r["tokens_per_second"],
                     r["ttft"]["p50_ms"], r["itl"]["p50_ms"], r["itl"]["p99_ms"],
                     r["e2e"]["p50_ms"], acc))
    order = {"none": 0, "ngram": 1, "draft_model": 2}
    rows.sort(key=lambda x: (order.get(x[0], 9), x[1], x[2], x[3]))
    print("| drafter | concurrency | T | sampling | tokens/s | TTFT p50 ms | ITL p50 ms | "
          "ITL p99 ms | e2e p50 ms | acceptance |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for d, c, t, s, tps, ttft, itl, itl99, e2e, acc in rows:
        print(f"| {d} | {c} | {t:g} | {s} | {tps:.0f} | {ttft:.2f} | {itl:.2f} | {itl99:.2f} | "
              f"{e2e:.1f} | {acc} |")


if __name__ == "__main__":
    main()
