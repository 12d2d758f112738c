#pragma once

// The LRU cache of values in front of the key tree (state.file.cache_items,
// split among the shards). Only folded values live here: values not yet
// folded into the tree are held by the store itself.

#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace solver_state {

class value_cache {
public:
  explicit value_cache(size_t capacity) : capacity_(capacity) {}

  /// The cached value of `key` (now the most recently used), or nullptr.
  const std::string* find(std::string_view key) {
    auto it = slots_.find(key);
    if (it == slots_.end())
      return nullptr;
    items_.splice(items_.begin(), items_, it->second);
    return &it->second->second;
  }

  void put(const std::string& key, std::string value) {
    if (capacity_ == 0)
      return;
    erase(key);
    items_.emplace_front(key, std::move(value));
    slots_.emplace(items_.front().first, items_.begin());
    if (items_.size() > capacity_) {
      slots_.erase(items_.back().first);
      items_.pop_back();
    }
  }

  void erase(std::string_view key) {
    auto it = slots_.find(key);
    if (it == slots_.end())
      return;
    auto pos = it->second;
    slots_.erase(it);
    items_.erase(pos);
  }

  size_t size() const { return items_.size(); }

private:
  using item_list = std::list<std::pair<std::string, std::string>>;
  size_t capacity_;
  item_list items_; // front = most recently used
  std::unordered_map<std::string_view, item_list::iterator> slots_;
};

} // namespace solver_state
