"""Merges the device run's cuda_<model>.json (linspec-cuda-bench) and torch_<model>.json
(bench/pytorch) into bench/results/cuda_<shape>.json and prints the markdown table of
bench/README.md.  Usage: python3 bench/cuda_report.py RESULTS_DIR [--out bench/results]"""
import argparse
import glob
import json
import os


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("dir")
  ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
  args = ap.parse_args()
  by_shape = {}
  for path in sorted(glob.glob(os.path.join(args.dir, "cuda_*.json"))):
    model = os.path.basename(path)[len("cuda_"):-len(".json")]
    shape, variant = model.split("-", 1)
    cuda = json.load(open(path))
    tpath = os.path.join(args.dir, "torch_%s.json" % model)
    torch = json.load(open(tpath)) if os.path.exists(tpath) else {"results": []}
    tmap = {(r["B"], r["T"]): r for r in torch["results"]}
    rows = []
    for r in cuda["results"]:
      t = tmap.get((r["B"], r["T"]), {})
      rows.append(dict(r, torch_eager_ms=t.get("eager_ms"), torch_graph_ms=t.get("graph_ms")))
    entry = {k: v for k, v in cuda.items() if k != "results"}
    entry.update(variant=variant, results=rows, torch_device=torch.get("device"))
    by_shape.setdefault(shape, []).append(entry)
  for shape, entries in by_shape.items():
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "cuda_%s.json" % shape), "w") as f:
      json.dump(entries, f, indent=1)
    for e in entries:
      t1 = {r["B"]: r["ms_per_step"] for r in e["results"] if r["T"] == 1}
      print("\n**%s %s** (%s, copy bandwidth %.0f GB/s, weights %.2f GB, state %.1f MB/seq; "
            "B=1 T=1 without graphs %.3f ms)\n" %
            (shape, e["variant"], e["device"], e["copy_bandwidth_GBps"], e["weight_bytes"] / 1e9,
             e["state_bytes_per_seq"] / 1e6, e.get("eager_B1_T1_ms", float("nan"))))
      print("| B | T | ms/step | read / fold phase ms | mixed phases ms (% of roofline) | tokens/s "
            "| roofline ms | % of roofline | % of lazy-fold roofline | T=k+1 / T=1 "
            "| with sampling ms | PyTorch eager ms | PyTorch graphs ms | speedup vs graphs |")
      print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
      for r in e["results"]:
        ratio = r["ms_per_step"] / t1[r["B"]] if r["B"] in t1 else float("nan")
        g = r["torch_graph_ms"]
        phases = ("%.3f / %.3f" % (r["read_phase_ms"], r["fold_phase_ms"])
                  if "read_phase_ms" in r else "-")
        lazy = "%.0f%%" % (100 * r["lazy_roofline_fraction"]) if "lazy_roofline_fraction" in r else "-"
        mixed = ("%.3f (%.0f%%)" % (r["mixed_phase_ms"], 100 * r["mixed_roofline_fraction"])
                 if r.get("mixed_phase_ms") else "-")
        smp = "%.3f" % r["sampled_ms_per_step"] if r.get("sampled_ms_per_step") else "-"
        print("| %d | %d | %.3f | %s | %s | %.0f | %.3f | %.0f%% | %s | %s | %s | %s | %s | %s |" %
              (r["B"], r["T"], r["ms_per_step"], phases, mixed, r["tokens_per_s"], r["roofline_ms"],
               100 * r["roofline_fraction"], lazy, "%.2f" % ratio if r["T"] > 1 else "", smp,
               "%.2f" % r["torch_eager_ms"] if r["torch_eager_ms"] else "-",
               "%.2f" % g if g else "-", "%.1fx" % (g / r["ms_per_step"]) if g else "-"))

if __name__ == "__main__":
  main()
