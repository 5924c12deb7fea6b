"""Summarizes `ncu --csv --metrics gpu__time_duration.sum` output per kernel name (bench/README)."""
import collections
import csv
import sys

rows = list(csv.reader(open(sys.argv[1])))
hdr = next(i for i, r in enumerate(rows) if "Kernel Name" in r)
cols = rows[hdr]
ki, mi, vi = cols.index("Kernel Name"), cols.index("Metric Name"), cols.index("Metric Value")
tot = collections.defaultdict(float)
cnt = collections.Counter()
for r in rows[hdr + 1:]:
  if len(r) <= vi or r[mi] != "gpu__time_duration.sum":
    continue
  full = r[ki].replace("(anonymous namespace)::", "").replace("<unnamed>::", "")
  if full.startswith("void "):
    full = full[5:]
  name = full.split("(")[0].split("<")[0][-60:]
  val = float(r[vi].replace(",", ""))
  unit = r[cols.index("Metric Unit")] if "Metric Unit" in cols else "nsecond"
  us = val / 1000 if unit.startswith("n") else val if unit.startswith("u") else val * 1000
  tot[name] += us
  cnt[name] += 1
all_us = sum(tot.values())
print("%-62s %6s %10s %6s" % ("kernel", "count", "total us", "share"))
for name, us in sorted(tot.items(), key=lambda x: -x[1]):
  print("%-62s %6d %10.1f %5.1f%%" % (name, cnt[name], us, 100 * us / all_us))
print("sum of kernel times: %.1f us" % all_us)
