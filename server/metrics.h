// Prometheus metrics of DESIGN.md §5, fed by the scheduler through MetricsObserver and by the
// transports (rejections). Every series carries the label model_name. Serialize() renders the
// registry in the Prometheus text format (served by the HTTP server on GET /metrics).
//
// Thread-safety: all methods are thread-safe (prometheus-cpp metrics are atomic; the lazily
// created per-position series are guarded by a mutex). Observer hooks never block for long.
#ifndef LINSPEC_SERVER_METRICS_H_
#define LINSPEC_SERVER_METRICS_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "scheduler/metrics_observer.h"

namespace linspec::server {

class ServerMetrics : public scheduler::MetricsObserver {
 public:
  explicit ServerMetrics(const std::string& model_name);

  // scheduler::MetricsObserver
  void OnRequestFinished(const scheduler::FinalResult& result, int prompt_tokens) override;
  void OnGenerationTokens(int n) override;
  void OnFirstToken(double ttft_seconds) override;
  void OnInterTokenLatency(double seconds) override;
  void OnQueueTime(double seconds) override;
  void OnBatch(int batch_size) override;
  void OnStepPhase(scheduler::StepPhase phase, double seconds) override;
  void OnSpecDecode(int num_draft, int num_accepted) override;
  void OnGauges(int running, int waiting, int slots_total, int slots_used) override;

  // A request refused before admission (bad input, queue full, auth, draining):
  // linspec_requests_total{status="rejected"}.
  void OnRejected();

  // Prometheus text exposition format 0.0.4.
  std::string Serialize() const;
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  prometheus::Counter& RequestsTotal(const std::string& status);
  prometheus::Counter& AcceptedAtPosition(int position);

  std::string model_name_;
  std::shared_ptr<prometheus::Registry> registry_;

  prometheus::Family<prometheus::Counter>* requests_total_;
  prometheus::Counter* prompt_tokens_;
  prometheus::Counter* generation_tokens_;
  prometheus::Gauge* running_;
  prometheus::Gauge* waiting_;
  prometheus::Gauge* slots_total_;
  prometheus::Gauge* slots_used_;
  prometheus::Histogram* ttft_;
  prometheus::Histogram* itl_;
  prometheus::Histogram* e2e_;
  prometheus::Histogram* queue_time_;
  prometheus::Histogram* batch_size_;
  prometheus::Family<prometheus::Histogram>* step_seconds_;
  std::vector<prometheus::Histogram*> step_by_phase_;  // indexed by StepPhase
  prometheus::Counter* num_drafts_;
  prometheus::Counter* num_draft_tokens_;
  prometheus::Counter* num_accepted_tokens_;
  prometheus::Family<prometheus::Counter>* accepted_per_pos_;

  std::mutex mu_;  // guards the maps below (lazily created series)
  std::map<std::string, prometheus::Counter*> requests_by_status_;
  std::vector<prometheus::Counter*> accepted_by_pos_;
};

// Forwards to another observer, except request-level events while closed: the start-up
// warm-up request runs through it closed, so it never shows up in the exported counters.
// Gauges always pass. open() is an atomic flag; the forwarded-to observer must outlive this.
class GatedObserver : public scheduler::MetricsObserver {
 public:
  explicit GatedObserver(scheduler::MetricsObserver* inner) : inner_(inner) {}
  void set_open(bool open) { open_.store(open, std::memory_order_relaxed); }

  void OnRequestFinished(const scheduler::FinalResult& r, int prompt_tokens) override {
    if (open()) inner_->OnRequestFinished(r, prompt_tokens);
  }
  void OnGenerationTokens(int n) override {
    if (open()) inner_->OnGenerationTokens(n);
  }
  void OnFirstToken(double s) override {
    if (open()) inner_->OnFirstToken(s);
  }
  void OnInterTokenLatency(double s) override {
    if (open()) inner_->OnInterTokenLatency(s);
  }
  void OnQueueTime(double s) override {
    if (open()) inner_->OnQueueTime(s);
  }
  void OnBatch(int n) override {
    if (open()) inner_->OnBatch(n);
  }
  void OnStepPhase(scheduler::StepPhase p, double s) override {
    if (open()) inner_->OnStepPhase(p, s);
  }
  void OnSpecDecode(int d, int a) override {
    if (open()) inner_->OnSpecDecode(d, a);
  }
  void OnGauges(int running, int waiting, int total, int used) override {
    inner_->OnGauges(running, waiting, total, used);
  }

 private:
  bool open() const { return open_.load(std::memory_order_relaxed); }
  scheduler::MetricsObserver* inner_;
  std::atomic<bool> open_{false};
};

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_METRICS_H_
