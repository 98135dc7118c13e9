// A thread that works through submitted items in batches: each call of `process` gets
// everything that waited while the previous call ran (group commit: many sessions' writes
// in one transaction, one fsync), up to a count and a weight.
//
//   base::BatchThread<Item> worker([&](std::vector<Item>& batch) { commit(batch); },
//                                  {.max_items = 256});
//   worker.submit(item);               // any thread
//
// The destructor processes what was submitted, then joins. Construct it after whatever
// `process` uses, and destroy it before (declare it last, or reset it first).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace postern::base {

template <typename T>
class BatchThread {
 public:
  struct Limits {
    size_t max_items = 256;                                   // at least 1
    uint64_t max_weight = std::numeric_limits<uint64_t>::max();  // a heavier first item still goes alone
    std::function<uint64_t(const T&)> weight;                 // unset: every item weighs 0
  };
  using Process = std::function<void(std::vector<T>&)>;

  explicit BatchThread(Process process, Limits limits = {})
      : process_(std::move(process)), limits_(std::move(limits)) {
    if (limits_.max_items == 0) limits_.max_items = 1;
    thread_ = std::thread([this] { run(); });
  }
  ~BatchThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  BatchThread(const BatchThread&) = delete;
  BatchThread& operator=(const BatchThread&) = delete;

  void submit(T item) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_.push_back(std::move(item));
    }
    cv_.notify_one();
  }

 private:
  void run() {
    for (;;) {
      std::vector<T> batch;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
        if (pending_.empty()) return;  // stopping, and everything submitted is done
        uint64_t weight = 0;
        while (!pending_.empty() && batch.size() < limits_.max_items) {
          uint64_t w = limits_.weight ? limits_.weight(pending_.front()) : 0;
          if (!batch.empty() && weight + w > limits_.max_weight) break;
          weight += w;
          batch.push_back(std::move(pending_.front()));
          pending_.pop_front();
        }
      }
      process_(batch);
    }
  }

  Process process_;
  Limits limits_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace postern::base
