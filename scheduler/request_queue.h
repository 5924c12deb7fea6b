// The bounded wait queue: requests accepted by Submit that have no slot yet. Ordered by
// priority (higher first), then by arrival.
//
// Thread-safety: none; the scheduler guards it with its mutex.
#ifndef LINSPEC_SCHEDULER_REQUEST_QUEUE_H_
#define LINSPEC_SCHEDULER_REQUEST_QUEUE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "scheduler/request.h"

namespace linspec::scheduler {

struct QueuedRequest {
  uint64_t id = 0;
  GenerateRequest request;
  TimePoint arrival;
};

class RequestQueue {
 public:
  explicit RequestQueue(int capacity) : capacity_(capacity) {}

  // False (and the request is left untouched) when the queue is full.
  bool Push(QueuedRequest& item);
  // The highest-priority, earliest request, or nullopt when empty.
  std::optional<QueuedRequest> Pop();
  // Removes the request with this id, if queued.
  std::optional<QueuedRequest> Remove(uint64_t id);
  // Removes and returns every request whose deadline is at or before now.
  std::vector<QueuedRequest> TakeExpired(TimePoint now);
  // Removes and returns everything.
  std::vector<QueuedRequest> TakeAll();

  int size() const { return static_cast<int>(items_.size()); }
  bool empty() const { return items_.empty(); }
  int capacity() const { return capacity_; }

 private:
  int capacity_;
  uint64_t next_seq_ = 0;
  // Key (-priority, arrival sequence): begin() is the next request to admit.
  std::map<std::pair<int64_t, uint64_t>, QueuedRequest> items_;
};

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_REQUEST_QUEUE_H_
