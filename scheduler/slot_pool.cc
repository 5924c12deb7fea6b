#include "scheduler/slot_pool.h"

#include <cstdio>
#include <cstdlib>

namespace linspec::scheduler {

SlotPool::SlotPool(int num_slots) : in_use_(num_slots > 0 ? num_slots : 0, false) {}

std::optional<engine::SlotId> SlotPool::Acquire() {
  for (size_t i = 0; i < in_use_.size(); ++i) {
    if (!in_use_[i]) {
      in_use_[i] = true;
      ++used_;
      return static_cast<engine::SlotId>(i);
    }
  }
  return std::nullopt;
}

void SlotPool::Release(engine::SlotId slot) {
  if (slot < 0 || static_cast<size_t>(slot) >= in_use_.size() || !in_use_[slot]) {
    // A double release would hand one slot to two sequences: stop before state is mixed.
    std::fprintf(stderr, "SlotPool::Release: slot %d is not in use\n", slot);
    std::abort();
  }
  in_use_[slot] = false;
  --used_;
}

}  // namespace linspec::scheduler
