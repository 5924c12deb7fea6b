// Process-wide launch options of the kernels. Thread-safe (atomic).
#ifndef LINSPEC_KERNELS_LAUNCH_H_
#define LINSPEC_KERNELS_LAUNCH_H_

namespace linspec::kernels {

// Launch kernels with programmatic dependent launch (sm_90+): the next kernel of a stream
// starts while the previous one drains and prefetches its weights. Off by default; the CUDA
// engine turns it on for Hopper devices.
void SetProgrammaticDependentLaunch(bool enabled);
bool ProgrammaticDependentLaunch();

}  // namespace linspec::kernels

#endif  // LINSPEC_KERNELS_LAUNCH_H_
