#include "server/slot_budget.h"

#include <algorithm>

namespace linspec::server {

int64_t EstimateSlotBytes(const engine::ModelConfig& c, int max_draft_tokens) {
  const int64_t kv = c.num_key_value_heads > 0 ? c.num_key_value_heads : c.num_attention_heads;
  const int64_t d = c.head_dim > 0
                        ? c.head_dim
                        : (c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0);
  const auto& la = c.linear_attention;
  int64_t floats = kv * d * d;                                 // S
  if (la.normalize) floats += kv * d;                          // z
  floats += int64_t{std::max(la.group_size, 0)} * kv * d * 2;  // window: k-hat and v
  floats += int64_t{std::max(la.conv_taps - 1, 0)} * kv * d;   // conv ring of v
  floats += int64_t{max_draft_tokens + 1} * kv * d * 2;        // pending k-hat and v
  return floats * 4 * c.num_hidden_layers;
}

int SlotsForBudget(int64_t budget_bytes, int64_t slot_bytes) {
  if (budget_bytes <= 0 || slot_bytes <= 0) return 1;
  return static_cast<int>(std::max<int64_t>(1, budget_bytes / slot_bytes));
}

}  // namespace linspec::server
