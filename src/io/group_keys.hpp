#pragma once
// A table's group keys, in its row order: integers or text. Keys the reader took as integers (the
// canonical decimal text of an int64) stay numbers end to end: no string is made per group, the
// CSV writer formats them straight into the text (the same bytes as the key read) and the Python
// package hands them over as int64.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace shrink::io {

class group_keys {
 public:
  group_keys() = default;
  /// Text keys.
  group_keys(std::vector<std::string> text) : text_(std::move(text)) {}
  /// Integer keys.
  explicit group_keys(std::vector<std::int64_t> integers) : integer_(true), integers_(std::move(integers)) {}

  bool integer() const { return integer_; }
  std::size_t size() const { return integer_ ? integers_.size() : text_.size(); }
  bool empty() const { return size() == 0; }
  /// Key j as text (a copy: const, so that no assignment to it compiles).
  const std::string operator[](std::size_t j) const { return integer_ ? std::to_string(integers_[j]) : text_[j]; }
  const std::vector<std::int64_t>& integers() const { return integers_; }
  const std::vector<std::string>& text() const { return text_; }

  /// The same keys, of the same kind.
  friend bool operator==(const group_keys& a, const group_keys& b)
  {
    return a.integer_ == b.integer_ && a.integers_ == b.integers_ && a.text_ == b.text_;
  }
  /// Keys whose text is `text`, one by one (of either kind).
  friend bool operator==(const group_keys& a, const std::vector<std::string>& text)
  {
    if (a.size() != text.size()) return false;
    for (std::size_t j = 0; j < text.size(); ++j)
      if (a[j] != text[j]) return false;
    return true;
  }

 private:
  bool integer_ = false;
  std::vector<std::int64_t> integers_;
  std::vector<std::string> text_;
};

/// Keys not owned: a group_keys or a vector of text keys (what the writers and the reports take).
class key_view {
 public:
  key_view(const group_keys& k)
    : integer_(k.integer()), integers_(k.integers().data()), text_(k.text().data()), size_(k.size())
  {
  }
  key_view(const std::vector<std::string>& text) : text_(text.data()), size_(text.size()) {}

  bool integer() const { return integer_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// Key j as text (a copy, as group_keys').
  const std::string operator[](std::size_t j) const { return integer() ? std::to_string(integers_[j]) : text_[j]; }
  /// Integer keys: key j, and all of them.
  std::int64_t integer(std::size_t j) const { return integers_[j]; }
  const std::int64_t* integers() const { return integers_; }
  /// Text keys: key j.
  const std::string& text(std::size_t j) const { return text_[j]; }
  /// Every key as text.
  std::vector<std::string> strings() const
  {
    if (!integer()) return {text_, text_ + size_};
    std::vector<std::string> out;
    out.reserve(size_);
    for (std::size_t j = 0; j < size_; ++j) out.push_back(std::to_string(integers_[j]));
    return out;
  }

 private:
  bool integer_ = false;
  const std::int64_t* integers_ = nullptr;
  const std::string* text_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace shrink::io
