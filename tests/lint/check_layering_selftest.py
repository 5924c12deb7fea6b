#!/usr/bin/env python3
"""Plants each kind of violation in a temporary tree and checks the checker reports it."""
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
CASES = {
    "scheduler/a.h": '#include "grpcpp/grpcpp.h"\n',
    "scheduler/b.h": "#include <cuda_runtime.h>\n",
    "scheduler/c.h": '#include "boost/beast/http.hpp"\n',
    "engine/d.cc": '#include "scheduler/scheduler.h"\n',
    "engine/cpu/e.cc": '#include "cublas_v2.h"\n',
    "common/f.h": '#include "engine/engine.h"\n',
    "engine/g.cc": '#include "linspec/v1/generation.pb.h"\n',
}
ALLOWED = {
    "engine/cuda/ok.cc": "#include <cuda_runtime.h>\n",
    "kernels/ok.cu": '#include "cublas_v2.h"\n',
    "server/ok.cc": '#include "linspec/v1/generation.grpc.pb.h"\n#include "scheduler/scheduler.h"\n',
}


def run(tree):
    with tempfile.TemporaryDirectory() as d:
        for rel, text in tree.items():
            p = pathlib.Path(d, rel)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        r = subprocess.run([sys.executable, str(HERE / "check_layering.py"), d],
                           capture_output=True, text=True)
        return r.returncode, r.stdout


def main():
    failures = 0
    for rel, text in CASES.items():
        rc, out = run({rel: text})
        if rc != 1 or rel not in out:
            print(f"FAIL: planted violation in {rel} not reported:\n{out}")
            failures += 1
    rc, out = run(ALLOWED)
    if rc != 0:
        print(f"FAIL: allowed includes reported:\n{out}")
        failures += 1
    print(f"{len(CASES) + 1 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
