// CHECK_CUDA for the CUDA benchmark drivers: prints the failing call and exits.
#ifndef LINSPEC_BENCH_CUDA_CHECK_H_
#define LINSPEC_BENCH_CUDA_CHECK_H_

#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>

#define CHECK_CUDA(expr)                                                                         \
  do {                                                                                           \
    cudaError_t e_ = (expr);                                                                     \
    if (e_ != cudaSuccess) {                                                                     \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(e_)); \
      std::exit(1);                                                                              \
    }                                                                                            \
  } while (0)

#endif  // LINSPEC_BENCH_CUDA_CHECK_H_
