#include "scheduler/request_queue.h"

#include <utility>

namespace linspec::scheduler {

bool RequestQueue::Push(QueuedRequest& item) {
  if (size() >= capacity_) return false;
  const int64_t priority = item.request.priority;
  items_.emplace(std::make_pair(-priority, next_seq_++), std::move(item));
  return true;
}

std::optional<QueuedRequest> RequestQueue::Pop() {
  if (items_.empty()) return std::nullopt;
  auto it = items_.begin();
  QueuedRequest out = std::move(it->second);
  items_.erase(it);
  return out;
}

std::optional<QueuedRequest> RequestQueue::Remove(uint64_t id) {
  for (auto it = items_.begin(); it != items_.end(); ++it) {
    if (it->second.id == id) {
      QueuedRequest out = std::move(it->second);
      items_.erase(it);
      return out;
    }
  }
  return std::nullopt;
}

std::vector<QueuedRequest> RequestQueue::TakeExpired(TimePoint now) {
  std::vector<QueuedRequest> out;
  for (auto it = items_.begin(); it != items_.end();) {
    if (it->second.request.deadline && *it->second.request.deadline <= now) {
      out.push_back(std::move(it->second));
      it = items_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<QueuedRequest> RequestQueue::TakeAll() {
  std::vector<QueuedRequest> out;
  for (auto& [key, item] : items_) out.push_back(std::move(item));
  items_.clear();
  return out;
}

}  // namespace linspec::scheduler
