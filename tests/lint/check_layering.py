#!/usr/bin/env python3
"""Enforces the dependency rule of DESIGN.md section 1 on #include lines.

common <- kernels <- engine <- scheduler <- server; proto only in server/ and client/;
CUDA headers only in kernels/ and engine/cuda/; scheduler/ never sees protobuf, gRPC,
Beast or CUDA. Prints every violation as file:line and exits 1 if any.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')
CUDA = re.compile(r"^(cuda|cublas|cublasLt|curand|cub/|thrust/|nvtx|cuda_)|_runtime\.h$|\.cuh$")
GRPC = re.compile(r"^(grpc|grpcpp|grpc\+\+)/|\.grpc\.pb\.h$")
PROTOBUF = re.compile(r"^google/protobuf/|\.pb\.h$|^linspec/v1/")
BEAST = re.compile(r"^boost/(beast|asio)")
PROMETHEUS = re.compile(r"^prometheus/")

# folder -> list of (pattern, description) that it must not include
LAYERS = {
    "common": ["kernels/", "engine/", "scheduler/", "server/", "client/"],
    "kernels": ["engine/", "scheduler/", "server/", "client/"],
    "engine": ["scheduler/", "server/", "client/"],
    "scheduler": ["server/", "client/", "kernels/", "engine/cpu/", "engine/cuda/"],
    "server": ["client/", "kernels/", "engine/cpu/", "engine/cuda/"],
    "client": ["server/", "scheduler/", "kernels/", "engine/"],
}
SOURCE_SUFFIXES = {".h", ".cc", ".cu", ".cuh", ".cpp", ".hpp"}


def violations():
    for path in sorted(ROOT.rglob("*")):
        if path.suffix not in SOURCE_SUFFIXES or not path.is_file():
            continue
        rel = path.relative_to(ROOT).as_posix()
        top = rel.split("/", 1)[0]
        if top.startswith("build") or top in ("tests", "bench", "tools", ".git"):
            continue
        cuda_ok = rel.startswith("kernels/") or rel.startswith("engine/cuda/")
        for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            inc = m.group(1)
            where = f"{rel}:{lineno}: includes {inc}"
            if CUDA.search(inc) and not cuda_ok:
                yield f"{where} (CUDA headers only in kernels/ and engine/cuda/)"
            if (GRPC.search(inc) or PROTOBUF.search(inc)) and top not in ("server", "client", "proto"):
                yield f"{where} (gRPC/protobuf only in server/ and client/)"
            if (BEAST.search(inc) or PROMETHEUS.search(inc)) and top not in ("server", "client"):
                yield f"{where} (Beast/Asio/prometheus only in server/ and client/)"
            for banned in LAYERS.get(top, []):
                if inc.startswith(banned):
                    yield f"{where} ({top}/ must not depend on {banned})"


def main():
    found = list(violations())
    for v in found:
        print(v)
    print(f"layering: {len(found)} violation(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
