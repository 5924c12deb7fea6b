#include <atomic>

#include "kernels/launch.h"

namespace linspec::kernels {
namespace {
std::atomic<bool> g_pdl{false};
}  // namespace

void SetProgrammaticDependentLaunch(bool enabled) { g_pdl.store(enabled); }
bool ProgrammaticDependentLaunch() { return g_pdl.load(); }

}  // namespace linspec::kernels
