// The logged changes of a start, kept on a thread of their own.

#include "backends/file/change_collector.hpp"

#include "backends/shard_placement.hpp"

namespace solver_state {

change_collector::change_collector(size_t shard_count)
  : shard_count_(shard_count), changed_(shard_count) {
  filling_.reserve(batch_records);
  worker_ = std::thread([this] { run(); });
}

change_collector::~change_collector() {
  stop();
}

void change_collector::stop() {
  if (!worker_.joinable())
    return;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    closing_ = true;
  }
  ready_.notify_one();
  worker_.join();
}

void change_collector::add(wal_record&& rec) {
  filling_.push_back(std::move(rec));
  if (filling_.size() < batch_records)
    return;
  std::unique_lock<std::mutex> lock{mutex_};
  room_.wait(lock, [this] { return queue_.size() < max_batches; });
  queue_.push_back(std::move(filling_));
  lock.unlock();
  ready_.notify_one();
  filling_ = {};
  filling_.reserve(batch_records);
}

std::vector<log_changes> change_collector::finish() {
  if (!filling_.empty()) {
    std::lock_guard<std::mutex> guard{mutex_};
    queue_.push_back(std::move(filling_));
  }
  stop(); // the thread empties the queue before it ends
  return std::move(changed_);
}

void change_collector::run() {
  for (;;) {
    std::unique_lock<std::mutex> lock{mutex_};
    ready_.wait(lock, [this] { return !queue_.empty() || closing_; });
    if (queue_.empty())
      return; // closing, and nothing left
    auto batch = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    room_.notify_one();
    keep(batch);
  }
}

void change_collector::keep(std::vector<wal_record>& batch) {
  for (auto& rec : batch) {
    // The newest record of each key, over every log; those no newer than
    // the tree's lose to it later (recovery's merge_changes).
    auto& shard_changes = changed_[shard_index(rec.key, shard_count_)];
    auto it = shard_changes.find(rec.key);
    if (it != shard_changes.end() && rec.version <= it->second.data.version)
      continue;
    bool removed = rec.op == wal_op::erase;
    log_change change{removed,
                      entry{removed ? std::string{} : std::move(rec.value),
                            rec.version, rec.expires_at_ms}};
    if (it != shard_changes.end())
      it->second = std::move(change);
    else
      shard_changes.emplace(std::move(rec.key), std::move(change));
  }
}

} // namespace solver_state
