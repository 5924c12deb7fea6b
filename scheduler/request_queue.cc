#include "scheduler/request_queue.h"

#include <utility>

namespace linspec::scheduler {

bool RequestQueue::Push(QueuedRequest& item) {
  if (size() >= capacity_) return false;
  items_.push_back(Entry{next_seq_++, std::move(item)});
  return true;
}

std::optional<QueuedRequest> RequestQueue::Pop() {
  if (items_.empty()) return std::nullopt;
  size_t best = 0;
  for (size_t i = 1; i < items_.size(); ++i) {
    const Entry& a = items_[i];
    const Entry& b = items_[best];
    if (a.item.request.priority > b.item.request.priority ||
        (a.item.request.priority == b.item.request.priority && a.seq < b.seq)) {
      best = i;
    }
  }
  QueuedRequest out = std::move(items_[best].item);
  items_.erase(items_.begin() + best);
  return out;
}

std::optional<QueuedRequest> RequestQueue::Remove(uint64_t id) {
  for (size_t i = 0; i < items_.size(); ++i) {
    if (items_[i].item.id == id) {
      QueuedRequest out = std::move(items_[i].item);
      items_.erase(items_.begin() + i);
      return out;
    }
  }
  return std::nullopt;
}

std::vector<QueuedRequest> RequestQueue::TakeExpired(TimePoint now) {
  std::vector<QueuedRequest> out;
  std::vector<Entry> keep;
  for (Entry& e : items_) {
    if (e.item.request.deadline && *e.item.request.deadline <= now) {
      out.push_back(std::move(e.item));
    } else {
      keep.push_back(std::move(e));
    }
  }
  items_ = std::move(keep);
  return out;
}

std::vector<QueuedRequest> RequestQueue::TakeAll() {
  std::vector<QueuedRequest> out;
  for (Entry& e : items_) out.push_back(std::move(e.item));
  items_.clear();
  return out;
}

}  // namespace linspec::scheduler
