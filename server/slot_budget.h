// Turns a memory budget into a number of recurrent-state slots (DESIGN.md §3: a slot's size
// is fixed by the config). The estimate mirrors the slot layout: per layer the fp32 state
// S [kv_heads, d, d] (+ z when normalize), the unfolded group window of k-hat and v, the conv
// ring of C-1 values, and a pending area of max_draft+1 tokens of k-hat and v.
#ifndef LINSPEC_SERVER_SLOT_BUDGET_H_
#define LINSPEC_SERVER_SLOT_BUDGET_H_

#include <cstdint>

#include "engine/model_config.h"

namespace linspec::server {

int64_t EstimateSlotBytes(const engine::ModelConfig& config, int max_draft_tokens);
// At least 1 slot; budget_bytes <= 0 gives 1.
int SlotsForBudget(int64_t budget_bytes, int64_t slot_bytes);

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_SLOT_BUDGET_H_
