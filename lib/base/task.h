// Task<T>: a minimal C++20 coroutine for code that waits on the network (DNS above all)
// without knowing whether the wait is real. Protocol logic (SPF, DKIM key lookups, DMARC)
// is written once as coroutines that `co_await` lookups; a command-line tool drives them
// to completion with a blocking pump, a daemon resumes them from its event loop.
//
//   Task<int> count_mx(dns::Resolver& r, std::string domain) {
//     dns::Answer a = co_await r.lookup(domain, dns::RrType::kMx);
//     co_return static_cast<int>(a.records.size());
//   }
//   Task<int> t = count_mx(resolver, "example.org");
//   int n = run_to_completion(t, [&] { resolver.wait(); });
//
// A Task is lazy (starts when awaited or started), move-only, awaited at most once, and
// single-threaded: its callbacks must run on the thread that drives it. Awaiting a Task
// resumes the awaiter by symmetric transfer, so deep chains do not grow the stack.
// Exceptions thrown inside propagate to the awaiter.
#pragma once

#include <coroutine>
#include <exception>
#include <functional>
#include <optional>
#include <utility>

namespace postern::base {

template <typename T>
class [[nodiscard]] Task {
 public:
  struct promise_type {
    std::optional<T> value;
    std::exception_ptr error;
    std::coroutine_handle<> continuation;

    Task get_return_object() {
      return Task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    struct FinalAwaiter {
      bool await_ready() noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        auto c = h.promise().continuation;
        return c ? c : std::noop_coroutine();
      }
      void await_resume() noexcept {}
    };
    FinalAwaiter final_suspend() noexcept { return {}; }
    template <typename U>
    void return_value(U&& v) {
      value.emplace(std::forward<U>(v));
    }
    void unhandled_exception() { error = std::current_exception(); }
  };

  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (h_) h_.destroy();
  }

  // Awaiting from another coroutine.
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
    h_.promise().continuation = awaiting;
    return h_;
  }
  T await_resume() { return take(); }

  // Driving from ordinary code: start() runs until the first real wait; done() tells
  // whether it has finished; take() returns the value (or rethrows).
  void start() { h_.resume(); }
  bool done() const { return !h_ || h_.done(); }
  T take() {
    if (h_.promise().error) std::rethrow_exception(h_.promise().error);
    return std::move(*h_.promise().value);
  }

 private:
  explicit Task(std::coroutine_handle<promise_type> h) : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

// Starts `task` and calls `pump` (which must block until some pending callback has run)
// until the task has finished; returns its value.
template <typename T, typename Pump>
T run_to_completion(Task<T>& task, Pump&& pump) {
  task.start();
  while (!task.done()) pump();
  return task.take();
}

// Awaits a callback-style operation: `start` receives a completion function and must call
// it exactly once, either before returning (the coroutine then continues without
// suspending) or later on the same thread.
//
//   Answer a = co_await Callback<Answer>([&](auto done) { backend.query(name, done); });
template <typename T>
class Callback {
 public:
  using Starter = std::function<void(std::function<void(T)>)>;
  explicit Callback(Starter start) : start_(std::move(start)) {}

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    state_ = kStarting;
    start_([this, h](T v) {
      result_.emplace(std::move(v));
      if (state_ == kStarting) {
        state_ = kDoneInline;  // completed inside start_: do not resume from here
      } else {
        h.resume();
      }
    });
    if (state_ == kDoneInline) return false;
    state_ = kWaiting;
    return true;
  }
  T await_resume() { return std::move(*result_); }

 private:
  enum State { kStarting, kWaiting, kDoneInline };
  Starter start_;
  std::optional<T> result_;
  State state_ = kStarting;
};

}  // namespace postern::base
