"""Summarizes the pair stage of bench/cuda_device_run.sh: the new binary's and the previous
commit's (-old) runs of linspec-cuda-bench, alternated in one call, as one table of ms/step
(each rep, then the median read / fold phase) per model, B and T, and the ratio of the
medians (new / old).
Usage: python3 bench/cuda_pair_summary.py DIR   (reads DIR/pair_<model>-<tag>-<rep>.json)"""
import collections
import glob
import json
import os
import re
import statistics
import sys


def main():
  runs = collections.defaultdict(list)  # (model, tag) -> [results by (B, T)]
  for path in sorted(glob.glob(os.path.join(sys.argv[1], "pair_*.json"))):
    m = re.match(r"pair_(.+)-(new|old)-(\d+)\.json$", os.path.basename(path))
    if not m:
      continue
    res = {(r["B"], r["T"]): r for r in json.load(open(path))["results"]}
    runs[(m.group(1), m.group(2))].append(res)
  models = sorted({k[0] for k in runs})
  print("| model | B | T | old ms/step (read / fold) | new ms/step (read / fold) | new / old |")
  print("|---|---|---|---|---|---|")
  summary = []
  for model in models:
    old, new = runs.get((model, "old"), []), runs.get((model, "new"), [])
    if not old or not new:
      continue
    for key in sorted(new[0]):
      def fmt(rs):
        ms = [r[key]["ms_per_step"] for r in rs]
        rd = statistics.median(r[key]["read_phase_ms"] for r in rs)
        fd = statistics.median(r[key]["fold_phase_ms"] for r in rs)
        return statistics.median(ms), "%s (%.3f / %.3f)" % (
            " / ".join("%.3f" % x for x in ms), rd, fd)
      o, os_ = fmt(old)
      n, ns = fmt(new)
      print("| %s | %d | %d | %s | %s | %.3f |" % (model, key[0], key[1], os_, ns, n / o))
      summary.append({"model": model, "B": key[0], "T": key[1], "old_ms": o, "new_ms": n})
  json.dump(summary, open(os.path.join(sys.argv[1], "pair_summary.json"), "w"), indent=1)


if __name__ == "__main__":
  main()
