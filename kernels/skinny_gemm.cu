#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "kernels/device_common.cuh"
#include "kernels/skinny_gemm.h"

namespace linspec::kernels {
namespace {

constexpr int kWarps = 4;
constexpr int kRowsPerWarp = 32;  // two m16 tiles
constexpr int kRowsPerBlock = kWarps * kRowsPerWarp;
// The activation slice lives in shared memory: up to 160 KB (opt-in above 48 KB), so 64-row
// batches can use k slices of up to 1248 columns: fewer split-K partials to write and re-read.
// LINSPEC_CUDA_SKINNY_BIG_SMEM=0 keeps the 48 KB bound (A/B runs). Bounded by the device's
// opt-in maximum.
int MaxSmemBytes() {
  static const int bytes = [] {
    const char* e = std::getenv("LINSPEC_CUDA_SKINNY_BIG_SMEM");
    int dev = 0, optin = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) !=
            cudaSuccess) {
      optin = 0;
    }
    return e && e[0] == '0' ? 48 * 1024 : std::max(48 * 1024, std::min(160 * 1024, optin));
  }();
  return bytes;
}

using detail::LoadStream;
using detail::Mma;

// The same load with an L2 eviction policy (createpolicy): evict-first keeps the streamed
// weights from pushing activations and split-K partials out of L2.
__device__ __forceinline__ uint4 LoadStream(const void* p, uint64_t policy) {
  uint4 r;
  asm volatile("ld.global.nc.L1::no_allocate.L2::cache_hint.v4.u32 {%0,%1,%2,%3}, [%4], %5;\n"
               : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
               : "l"(p), "l"(policy));
  return r;
}

__device__ __forceinline__ uint64_t WeightPolicy(bool evict_first) {
  uint64_t p;
  if (evict_first) {
    asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(p));
  } else {
    asm volatile("createpolicy.fractional.L2::evict_normal.b64 %0, 1.0;\n" : "=l"(p));
  }
  return p;
}

using detail::CpAsync16;
using detail::CpAsyncCommit;
using detail::CpAsyncWait;

// One 32-wide k chunk. Lane (g, t) holds 8 consecutive k of rows g, g+8 (+16, +24); the
// chunk is two m16n8k16 steps whose k order is permuted identically for A and B (a dot
// product does not depend on the order of its terms): physical k 8t+0..3 is step 0's
// {2t, 2t+1, 2t+8, 2t+9} and 8t+4..7 is step 1's.
template <typename T, int NT>
__device__ __forceinline__ void MmaChunk(float (&acc)[2][NT][4], const uint4 (&a)[4],
                                         const uint4* xs, int row_stride, int g) {
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const uint4 b = xs[(nt * 8 + g) * row_stride];
#pragma unroll
    for (int mt = 0; mt < 2; ++mt) {
      const uint4& lo = a[mt * 2];
      const uint4& hi = a[mt * 2 + 1];
      Mma<T>(acc[mt][nt], lo.x, hi.x, lo.y, hi.y, b.x, b.y);
      Mma<T>(acc[mt][nt], lo.z, hi.z, lo.w, hi.w, b.z, b.w);
    }
  }
}

// Loads the weight fragments of kUnroll 32-wide chunks starting at kk (zeros past klen).
template <int kUnroll>
__device__ __forceinline__ void LoadChunks(uint4 (&a)[kUnroll][4], const void* const (&wrow)[4],
                                           int kk, int klen, size_t elem_bytes) {
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      a[u][i] = kk + 32 * u < klen
                    ? LoadStream(static_cast<const char*>(wrow[i]) + (kk + 32 * u) * elem_bytes)
                    : make_uint4(0, 0, 0, 0);
    }
  }
}

template <typename T, int NT, bool kSwiGlu>
__global__ void __launch_bounds__(kWarps * 32)
    SkinnyGemmKernel(const T* __restrict__ w, const T* __restrict__ x, const float* __restrict__ gu,
                     int gu_splits, float* __restrict__ out, int m, int n, int k, int ks) {
  extern __shared__ uint4 xs_smem[];
  constexpr int kUnroll = 4;
  const int split = blockIdx.y;
  const int k0 = split * ks;
  const int klen = min(ks, k - k0);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int row0 = blockIdx.x * kRowsPerBlock + warp * kRowsPerWarp;
  const void* wrow[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int r = min(row0 + g + 8 * i, n - 1);  // clamped rows are computed and discarded
    wrow[i] = w + static_cast<size_t>(r) * k + k0 + 8 * t;
  }
  // The weights never change: start streaming them before waiting for the previous kernel.
  uint4 a[kUnroll][4];
  LoadChunks<kUnroll>(a, wrow, 0, klen, sizeof(T));
  detail::PdlWait();
  detail::PdlTrigger();

  const int vec_per_row = klen / 8;
  const int row_stride = ks / 8 + 1;  // +1 uint4 of padding against bank conflicts
  for (int idx = threadIdx.x; idx < NT * 8 * vec_per_row; idx += blockDim.x) {
    const int r = idx / vec_per_row, c = idx - r * vec_per_row;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r < m) {
      if constexpr (kSwiGlu) {
        const size_t stride = static_cast<size_t>(m) * 2 * k;
        const size_t base = static_cast<size_t>(r) * 2 * k + k0 + c * 8;
        T h[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          const float g = detail::SumSplits(gu, gu_splits, stride, base + e);
          const float u = detail::SumSplits(gu, gu_splits, stride, base + k + e);
          h[e] = detail::FromFloat<T>(detail::SwiGluAct(g, u));
        }
        v = *reinterpret_cast<const uint4*>(h);
      } else {
        v = *reinterpret_cast<const uint4*>(x + static_cast<size_t>(r) * k + k0 + c * 8);
      }
    }
    xs_smem[r * row_stride + c] = v;
  }
  __syncthreads();

  float acc[2][NT][4];
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mt][nt][e] = 0.f;

  const uint4* xs = xs_smem + t;
  for (int kk = 0; kk < klen; kk += 32 * kUnroll) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      // a[u] = {rows g, g+8, g+16, g+24}: m-tile 0 is (0, 1), m-tile 1 is (2, 3).
      if (kk + 32 * u < klen) MmaChunk<T, NT>(acc, a[u], xs + (kk + 32 * u) / 8, row_stride, g);
    }
    if (kk + 32 * kUnroll < klen) LoadChunks<kUnroll>(a, wrow, kk + 32 * kUnroll, klen, sizeof(T));
  }

  float* o = out + static_cast<size_t>(split) * m * n;
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = row0 + mt * 16 + g + (e >= 2 ? 8 : 0);
        const int col = nt * 8 + 2 * t + (e & 1);
        if (row < n && col < m) o[static_cast<size_t>(col) * n + row] = acc[mt][nt][e];
      }
}

// Waits until cp.async groups 0..grp of kXGroups have landed (wait_group takes an immediate).
template <int kXGroups>
__device__ __forceinline__ void WaitXGroup(int grp) {
  static_assert(kXGroups == 4);
  switch (kXGroups - 1 - grp) {
    case 3:
      CpAsyncWait<3>();
      break;
    case 2:
      CpAsyncWait<2>();
      break;
    case 1:
      CpAsyncWait<1>();
      break;
    default:
      CpAsyncWait<0>();
      break;
  }
  __syncthreads();
}

// The pipelined variant: same tiles, k order and mma sequence as SkinnyGemmKernel (so the
// results are bitwise identical for the same k slice), but
//  * weights stream through a rolling register ring: chunk u's next load is issued right after
//    chunk u's mma, so kU chunks stay in flight all the time (the classic kernel drains the
//    ring before refilling it);
//  * the activation slice arrives by cp.async in kXGroups k-groups and the first mma waits
//    only for the first group (the classic kernel loads all of it before any mma);
//  * kW warps per block (8: 256 weight rows share one activation slice, half the L2 re-reads
//    of x at 64 rows);
//  * optional L2 evict-first policy on the weight loads.
template <typename T, int kW, int NT, int kU>
__global__ void __launch_bounds__(kW * 32)
    SkinnyGemmPipelinedKernel(const T* __restrict__ w, const T* __restrict__ x,
                              float* __restrict__ out, int m, int n, int k, int ks,
                              int evict_first) {
  extern __shared__ uint4 xs_smem[];
  constexpr int kXGroups = 4;
  const int split = blockIdx.y;
  const int k0 = split * ks;
  const int klen = min(ks, k - k0);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int row0 = blockIdx.x * (kW * kRowsPerWarp) + warp * kRowsPerWarp;
  const char* wrow[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int r = min(row0 + g + 8 * i, n - 1);  // clamped rows are computed and discarded
    wrow[i] = reinterpret_cast<const char*>(w + static_cast<size_t>(r) * k + k0 + 8 * t);
  }
  const uint64_t policy = WeightPolicy(evict_first != 0);
  uint4 a[kU][4];
#pragma unroll
  for (int u = 0; u < kU; ++u)
#pragma unroll
    for (int i = 0; i < 4; ++i)
      a[u][i] =
          32 * u < klen ? LoadStream(wrow[i] + 32 * u * sizeof(T), policy) : make_uint4(0, 0, 0, 0);
  detail::PdlWait();
  detail::PdlTrigger();

  // Activation slice [NT*8 rows, klen] -> smem in kXGroups groups of whole 32-column chunks.
  const int chunks = klen / 32;
  const int per_group = (chunks + kXGroups - 1) / kXGroups;
  const int row_stride = ks / 8 + 1;  // +1 uint4 of padding against bank conflicts
#pragma unroll
  for (int grp = 0; grp < kXGroups; ++grp) {
    const int c0 = min(chunks, grp * per_group) * 4, c1 = min(chunks, (grp + 1) * per_group) * 4;
    const int width = c1 - c0;
    for (int idx = threadIdx.x; idx < NT * 8 * width; idx += kW * 32) {
      const int r = idx / width, c = c0 + (idx - r * width);
      CpAsync16(xs_smem + r * row_stride + c,
                x + static_cast<size_t>(min(r, m - 1)) * k + k0 + c * 8, r < m);
    }
    CpAsyncCommit();
  }

  float acc[2][NT][4];
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mt][nt][e] = 0.f;

  const uint4* xs = xs_smem + t;
  int ready = 0;  // chunks whose activations are known to be in smem
  for (int kk = 0; kk < klen; kk += 32 * kU) {
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const int kc = kk + 32 * u;
      if (kc < klen) {
        if (kc / 32 >= ready) {  // uniform across the block
          const int grp = kc / 32 / per_group;
          WaitXGroup<kXGroups>(grp);
          ready = (grp + 1) * per_group;
        }
        MmaChunk<T, NT>(acc, a[u], xs + kc / 8, row_stride, g);
        const int kn = kc + 32 * kU;
        if (kn < klen) {
#pragma unroll
          for (int i = 0; i < 4; ++i) a[u][i] = LoadStream(wrow[i] + kn * sizeof(T), policy);
        }
      }
    }
  }

  float* o = out + static_cast<size_t>(split) * m * n;
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = row0 + mt * 16 + g + (e >= 2 ? 8 : 0);
        const int col = nt * 8 + 2 * t + (e & 1);
        if (row < n && col < m) o[static_cast<size_t>(col) * n + row] = acc[mt][nt][e];
      }
}

// The tiled variant: weights and activations both stream through a kStages-deep shared-memory
// ring by cp.async (16-byte copies, no registers held), 64 k per stage, so many bytes stay in
// flight whatever the row count and the activation slice needs no residency (any k slice fits).
// Fragments are read back with the same lane mapping, k order and mma sequence as
// SkinnyGemmKernel, so for the same k slice the results are bitwise identical to it.
// Smem rows are 128 bytes (8 16-byte units); unit c of row r is stored at c ^ ((r & 1) << 2)
// so that a quarter warp's 16-byte reads (rows 2p, 2p+1, units t or 4+t) hit all 32 banks once.
constexpr int kTiledBk = 64;
constexpr int kTiledStages = 4;

__device__ __forceinline__ int Swz(int r, int c) { return r * 8 + (c ^ ((r & 1) << 2)); }

template <typename T, int kW, int NT>
__global__ void __launch_bounds__(kW * 32)
    SkinnyGemmTiledKernel(const T* __restrict__ w, const T* __restrict__ x, float* __restrict__ out,
                          int m, int n, int k, int ks) {
  extern __shared__ uint4 tiled_smem[];
  constexpr int kRows = kW * kRowsPerWarp;
  constexpr int kWUnits = kRows * 8, kXUnits = NT * 8 * 8;  // 16-byte units per stage
  uint4* ws = tiled_smem;                                   // [kStages][kRows * 8]
  uint4* xsm = tiled_smem + kTiledStages * kWUnits;         // [kStages][NT * 8 * 8]
  const int split = blockIdx.y;
  const int k0 = split * ks;
  const int klen = min(ks, k - k0);
  const int nst = (klen + kTiledBk - 1) / kTiledBk;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int rowb = blockIdx.x * kRows;

  auto issue_w = [&](int st) {
    if (st >= nst) return;
    uint4* dst = ws + (st % kTiledStages) * kWUnits;
#pragma unroll
    for (int j = 0; j < kWUnits / (kW * 32); ++j) {
      const int u = threadIdx.x + j * kW * 32, r = u >> 3, c = u & 7;
      const int kc = st * kTiledBk + c * 8;
      const int gr = min(rowb + r, n - 1);  // clamped rows are computed and discarded
      CpAsync16(dst + Swz(r, c), w + static_cast<size_t>(gr) * k + k0 + min(kc, klen - 8),
                kc < klen);
    }
  };
  auto issue_x = [&](int st) {
    if (st >= nst) return;
    uint4* dst = xsm + (st % kTiledStages) * kXUnits;
    for (int u = threadIdx.x; u < kXUnits; u += kW * 32) {
      const int r = u >> 3, c = u & 7;
      const int kc = st * kTiledBk + c * 8;
      CpAsync16(dst + Swz(r, c),
                x + static_cast<size_t>(min(r, m - 1)) * k + k0 + min(kc, klen - 8),
                r < m && kc < klen);
    }
  };

  // The weights never change: start streaming them before waiting for the previous kernel.
#pragma unroll
  for (int st = 0; st < kTiledStages - 1; ++st) issue_w(st);
  detail::PdlWait();
  detail::PdlTrigger();
#pragma unroll
  for (int st = 0; st < kTiledStages - 1; ++st) issue_x(st);
  CpAsyncCommit();
  CpAsyncWait<0>();
  __syncthreads();

  float acc[2][NT][4];
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mt][nt][e] = 0.f;

  const int wr = warp * kRowsPerWarp + g;  // this lane's first weight row in the tile
  for (int st = 0; st < nst; ++st) {
    // Refill the slot consumed in the previous iteration (the barrier below protected it).
    issue_w(st + kTiledStages - 1);
    issue_x(st + kTiledStages - 1);
    CpAsyncCommit();
    const uint4* wsl = ws + (st % kTiledStages) * kWUnits;
    const uint4* xsl = xsm + (st % kTiledStages) * kXUnits;
#pragma unroll
    for (int q = 0; q < kTiledBk / 32; ++q) {
      if (st * kTiledBk + q * 32 < klen) {  // uniform
        uint4 a[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) a[i] = wsl[Swz(wr + 8 * i, q * 4 + t)];
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          const uint4 b = xsl[Swz(nt * 8 + g, q * 4 + t)];
#pragma unroll
          for (int mt = 0; mt < 2; ++mt) {
            const uint4& lo = a[mt * 2];
            const uint4& hi = a[mt * 2 + 1];
            Mma<T>(acc[mt][nt], lo.x, hi.x, lo.y, hi.y, b.x, b.y);
            Mma<T>(acc[mt][nt], lo.z, hi.z, lo.w, hi.w, b.z, b.w);
          }
        }
      }
    }
    CpAsyncWait<kTiledStages - 2>();  // stage st + 1 has landed (for this thread)
    __syncthreads();                  // ... for every thread; slot st may be refilled
  }

  float* o = out + static_cast<size_t>(split) * m * n;
  const int row0 = rowb + warp * kRowsPerWarp;
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = row0 + mt * 16 + g + (e >= 2 ? 8 : 0);
        const int col = nt * 8 + 2 * t + (e & 1);
        if (row < n && col < m) o[static_cast<size_t>(col) * n + row] = acc[mt][nt][e];
      }
}

int NumTiles(int m) { return m <= 8 ? 1 : m <= 16 ? 2 : m <= 32 ? 4 : 8; }

int MaxKSlice(int m) {
  const int rows = NumTiles(m) * 8;
  int ks = (MaxSmemBytes() / (rows * 2) - 8) / 32 * 32;
  return std::max(32, ks);
}

int KSlice(int m, int k, int requested_splits) {
  const int splits = std::max(1, requested_splits);
  int ks = ((k + splits - 1) / splits + 31) / 32 * 32;
  return std::min(std::max(ks, 32), MaxKSlice(m));
}

template <typename T, int NT, bool kSwiGlu = false>
cudaError_t Launch(const void* w, const void* x, float* partials, int m, int n, int k, int ks,
                   cudaStream_t stream, const float* gu = nullptr, int gu_splits = 0) {
  const int splits = (k + ks - 1) / ks;
  const size_t smem = static_cast<size_t>(NT) * 8 * (ks / 8 + 1) * sizeof(uint4);
  if (smem > 48 * 1024) {  // once per instantiation; the bound never changes in a process
    static const cudaError_t attr =
        cudaFuncSetAttribute(SkinnyGemmKernel<T, NT, kSwiGlu>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, MaxSmemBytes());
    if (attr != cudaSuccess) return attr;
  }
  dim3 grid((n + kRowsPerBlock - 1) / kRowsPerBlock, splits);
  return detail::Launch(SkinnyGemmKernel<T, NT, kSwiGlu>, grid, kWarps * 32, smem, stream,
                        static_cast<const T*>(w), static_cast<const T*>(x), gu, gu_splits, partials,
                        m, n, k, ks);
}

template <typename T, int kW, int NT, int kU>
cudaError_t LaunchPipelined(const void* w, const void* x, float* partials, int m, int n, int k,
                            int ks, bool evict_first, cudaStream_t stream) {
  const int splits = (k + ks - 1) / ks;
  const size_t smem = static_cast<size_t>(NT) * 8 * (ks / 8 + 1) * sizeof(uint4);
  auto* kernel = SkinnyGemmPipelinedKernel<T, kW, NT, kU>;
  if (smem > 48 * 1024) {  // once per instantiation; the bound never changes in a process
    static const cudaError_t attr =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, MaxSmemBytes());
    if (attr != cudaSuccess) return attr;
  }
  constexpr int kRows = kW * kRowsPerWarp;
  dim3 grid((n + kRows - 1) / kRows, splits);
  return detail::Launch(kernel, grid, kW * 32, smem, stream, static_cast<const T*>(w),
                        static_cast<const T*>(x), partials, m, n, k, ks, evict_first ? 1 : 0);
}

template <typename T, int kW, int NT>
cudaError_t LaunchTiled(const void* w, const void* x, float* partials, int m, int n, int k, int ks,
                        cudaStream_t stream) {
  const int splits = (k + ks - 1) / ks;
  constexpr int kRows = kW * kRowsPerWarp;
  constexpr size_t smem = static_cast<size_t>(kTiledStages) * (kRows + NT * 8) * 8 * sizeof(uint4);
  auto* kernel = SkinnyGemmTiledKernel<T, kW, NT>;
  if (smem > static_cast<size_t>(std::max(48 * 1024, MaxSmemBytes()))) {
    return cudaErrorInvalidConfiguration;  // e.g. LINSPEC_CUDA_SKINNY_BIG_SMEM=0, small-smem GPUs
  }
  if constexpr (smem > 48 * 1024) {
    static const cudaError_t attr =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (attr != cudaSuccess) return attr;
  }
  dim3 grid((n + kRows - 1) / kRows, splits);
  return detail::Launch(kernel, grid, kW * 32, smem, stream, static_cast<const T*>(w),
                        static_cast<const T*>(x), partials, m, n, k, ks);
}

template <typename T, int kW>
cudaError_t LaunchTiledTiles(const void* w, const void* x, float* partials, int m, int n, int k,
                             int ks, cudaStream_t stream) {
  switch (NumTiles(m)) {
    case 1:
      return LaunchTiled<T, kW, 1>(w, x, partials, m, n, k, ks, stream);
    case 2:
      return LaunchTiled<T, kW, 2>(w, x, partials, m, n, k, ks, stream);
    case 4:
      return LaunchTiled<T, kW, 4>(w, x, partials, m, n, k, ks, stream);
    default:
      return LaunchTiled<T, kW, 8>(w, x, partials, m, n, k, ks, stream);
  }
}

template <typename T, int kW, int kU>
cudaError_t LaunchPipelinedTiles(const void* w, const void* x, float* partials, int m, int n, int k,
                                 int ks, bool evict_first, cudaStream_t stream) {
  switch (NumTiles(m)) {
    case 1:
      return LaunchPipelined<T, kW, 1, kU>(w, x, partials, m, n, k, ks, evict_first, stream);
    case 2:
      return LaunchPipelined<T, kW, 2, kU>(w, x, partials, m, n, k, ks, evict_first, stream);
    case 4:
      return LaunchPipelined<T, kW, 4, kU>(w, x, partials, m, n, k, ks, evict_first, stream);
    default:
      return LaunchPipelined<T, kW, 8, kU>(w, x, partials, m, n, k, ks, evict_first, stream);
  }
}

template <typename T>
cudaError_t LaunchTyped(const void* w, const void* x, float* partials, int m, int n, int k, int ks,
                        int variant, cudaStream_t stream) {
  const bool evict_first = (variant & kSkinnyEvictFirst) != 0;
  switch (variant & ~kSkinnyEvictFirst) {
    case kSkinnyPipelined4:
      return LaunchPipelinedTiles<T, 4, 4>(w, x, partials, m, n, k, ks, evict_first, stream);
    case kSkinnyPipelined8:
      return LaunchPipelinedTiles<T, 8, 4>(w, x, partials, m, n, k, ks, evict_first, stream);
    case kSkinnyPipelined4Deep:
      return LaunchPipelinedTiles<T, 4, 8>(w, x, partials, m, n, k, ks, evict_first, stream);
    case kSkinnyTiled4:
      return LaunchTiledTiles<T, 4>(w, x, partials, m, n, k, ks, stream);
    case kSkinnyTiled8:
      return LaunchTiledTiles<T, 8>(w, x, partials, m, n, k, ks, stream);
    case kSkinnyTiled1:
      return LaunchTiledTiles<T, 1>(w, x, partials, m, n, k, ks, stream);
    case kSkinnyTiled2:
      return LaunchTiledTiles<T, 2>(w, x, partials, m, n, k, ks, stream);
    default:
      break;
  }
  switch (NumTiles(m)) {
    case 1:
      return Launch<T, 1>(w, x, partials, m, n, k, ks, stream);
    case 2:
      return Launch<T, 2>(w, x, partials, m, n, k, ks, stream);
    case 4:
      return Launch<T, 4>(w, x, partials, m, n, k, ks, stream);
    default:
      return Launch<T, 8>(w, x, partials, m, n, k, ks, stream);
  }
}

}  // namespace

cudaError_t SkinnyGemmSwiGlu(const void* w, const float* gu_partials, int gu_splits,
                             float* partials, int m, int n, int k, int splits, DType dtype,
                             cudaStream_t stream) {
  if (m < 1 || m > kSkinnySwiGluMaxRows || n < 1 || k < 32 || k % 32 != 0 || dtype == DType::kF32 ||
      gu_splits < 1) {
    return cudaErrorInvalidValue;
  }
  const int ks = KSlice(m, k, splits);
  if (dtype == DType::kBF16) {
    return Launch<__nv_bfloat16, 1, true>(w, nullptr, partials, m, n, k, ks, stream, gu_partials,
                                          gu_splits);
  }
  return Launch<__half, 1, true>(w, nullptr, partials, m, n, k, ks, stream, gu_partials, gu_splits);
}

int SkinnyGemmEffectiveSplits(int m, int k, int requested_splits) {
  const int ks = KSlice(m, k, requested_splits);
  return (k + ks - 1) / ks;
}

int SkinnyGemmDefaultSplits(int m, int n, int k, int num_sms) {
  const int blocks_x = (n + kRowsPerBlock - 1) / kRowsPerBlock;
  int splits = (3 * num_sms + blocks_x - 1) / blocks_x;
  splits = std::clamp(splits, 1, std::max(1, k / 128));
  return SkinnyGemmEffectiveSplits(m, k, splits);
}

cudaError_t SkinnyGemm(const void* w, const void* x, float* partials, int m, int n, int k,
                       int splits, DType dtype, cudaStream_t stream, int variant) {
  if (m < 1 || m > kSkinnyMaxRows || n < 1 || k < 32 || k % 32 != 0 || dtype == DType::kF32 ||
      (variant & ~kSkinnyEvictFirst) < 0 || (variant & ~kSkinnyEvictFirst) >= kSkinnyVariants) {
    return cudaErrorInvalidValue;
  }
  const int ks = KSlice(m, k, splits);
  if (dtype == DType::kBF16) {
    return LaunchTyped<__nv_bfloat16>(w, x, partials, m, n, k, ks, variant, stream);
  }
  return LaunchTyped<__half>(w, x, partials, m, n, k, ks, variant, stream);
}

}  // namespace linspec::kernels
