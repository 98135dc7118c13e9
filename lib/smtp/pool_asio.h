// Threads for work that may block (the store, DNS, HTTPS fetches), awaited from an Asio
// coroutine. Each thread owns a Context (its own Store connection, its own resolver):
//
//   ThreadPool<Worker> pool(4);
//   std::function<int(Worker&)> job = [](Worker& w) { return ...; };   // named: GCC 12
//   int n = co_await run_blocking(io, pool, std::move(job));
//
// Jobs run in submission order, on any thread. Only *_asio.cpp files include this.
#pragma once

#include <boost/asio.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace postern::smtp {

template <typename Context>
class ThreadPool {
 public:
  using Job = std::function<void(Context&)>;
  explicit ThreadPool(size_t threads) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void post(Job job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void run() {
    Context context;
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping, and every job is done
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job(context);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// Runs `f` on a pool thread; resumes the caller on its executor with the result. The
// work guard keeps io.run() going while the job is away from the loop.
template <typename R, typename Context>
boost::asio::awaitable<R> run_blocking(boost::asio::io_context& io, ThreadPool<Context>& pool,
                                       std::function<R(Context&)> f) {
  namespace asio = boost::asio;
  auto ex = co_await asio::this_coro::executor;
  // Named, not a temporary: GCC 12 destroys temporaries inside co_await twice.
  auto init = [&io, &pool, ex, f = std::move(f)](auto handler) mutable {
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    auto work = std::make_shared<asio::executor_work_guard<asio::io_context::executor_type>>(
        io.get_executor());
    pool.post([ex, f = std::move(f), h, work](Context& c) mutable {
      std::optional<R> out(f(c));
      asio::post(ex, [h, work, out = std::move(out)]() mutable {
        std::move (*h)(std::move(out));
        work->reset();
      });
    });
  };
  std::optional<R> r = co_await asio::async_initiate<const asio::use_awaitable_t<>&,
                                                     void(std::optional<R>)>(std::move(init),
                                                                             asio::use_awaitable);
  co_return std::move(*r);
}

}  // namespace postern::smtp
