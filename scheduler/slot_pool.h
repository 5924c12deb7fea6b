// Which engine slot ids are in use. The scheduler owns slot lifetime (DESIGN.md §3): a
// sequence takes one id on admission and gives it back when it finishes, is cancelled or
// fails. With a draft model the same id names the sequence's slot in both engines.
//
// Thread-safety: none; only the engine loop thread touches the pool.
#ifndef LINSPEC_SCHEDULER_SLOT_POOL_H_
#define LINSPEC_SCHEDULER_SLOT_POOL_H_

#include <optional>
#include <vector>

#include "engine/types.h"

namespace linspec::scheduler {

class SlotPool {
 public:
  explicit SlotPool(int num_slots);

  // Lowest free id, or nullopt when every slot is taken.
  std::optional<engine::SlotId> Acquire();
  // Returns an id taken by Acquire. Returning a free or unknown id is a caller bug (checked).
  void Release(engine::SlotId slot);

  int total() const { return static_cast<int>(in_use_.size()); }
  int used() const { return used_; }
  int free() const { return total() - used_; }

 private:
  std::vector<bool> in_use_;
  int used_ = 0;
};

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_SLOT_POOL_H_
