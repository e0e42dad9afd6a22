#pragma once
// A fixed_reduce (fixed_reduce.hpp) computed in parts: leaves may arrive in any order and from
// different processes, and the root has the bits of fixed_reduce_sequential over all of them.
//
// A part holds nodes of the tree of n leaves, each named by (level, index). When every node of a
// tile is present, the tile is reduced at once by fixed_tile_tree (the tree's own tile shape) and
// its root becomes node (level + 1, tile) in place of the tile's nodes. So a part that received the
// leaves of a contiguous range holds, at each level, only the nodes whose tile reaches outside the
// range (at most 2 x 255 per level), and two parts merge by adding the nodes of one to the other:
// every node is computed from the same children in the same shape, whichever part computed it.
// Host only (std::map): simulation studies merge their replicate blocks with it.

#include "fixed_reduce.hpp"
#include "macros.hpp"

#include <cstddef>
#include <map>
#include <utility>
#include <vector>

namespace shrink::detail {

template <class T>
class fixed_reduce_part {
 public:
  /// A part of the reduction of `leaves` leaves (>= 1) holding none of them.
  explicit fixed_reduce_part(std::size_t leaves = 1)
  {
    SHRINK_EXPECTS(leaves >= 1, "a fixed reduction needs at least one leaf");
    for (std::size_t count = leaves;; count = fixed_tiles(count)) {
      counts_.push_back(count);
      if (count == 1) break;
    }
    levels_.resize(counts_.size());
  }

  std::size_t leaves() const { return counts_.front(); }
  /// Levels of the tree: level levels() - 1 holds the root alone.
  std::size_t levels() const { return counts_.size(); }
  /// Nodes of `level`: leaves() at level 0, then ceil(previous / fixed_tile).
  std::size_t nodes_at(std::size_t level) const { return counts_[level]; }

  /// Adds node `index` of `level` (a leaf when level is 0), reducing every tile it completes.
  void add(std::size_t level, std::size_t index, const T& node)
  {
    SHRINK_EXPECTS(level < levels() && index < counts_[level], "a node outside the reduction's tree");
    level_nodes& at = levels_[level];
    SHRINK_EXPECTS(!held_above(level, index) && !held_below(level, index) && at.nodes.emplace(index, node).second,
                   "a node was added twice (overlapping parts)");
    if (level + 1 == levels()) return;  // the root
    const std::size_t tile = index / fixed_tile;
    const std::size_t begin = tile * fixed_tile;
    const std::size_t m = std::min(fixed_tile, counts_[level] - begin);
    if (++at.present[tile] < m) return;
    std::vector<T> x;
    x.reserve(m);
    const auto first = at.nodes.find(begin);
    auto last = first;
    for (std::size_t i = 0; i < m; ++i, ++last) x.push_back(last->second);
    at.nodes.erase(first, last);
    at.present.erase(tile);
    add(level + 1, tile, fixed_tile_tree(x.data(), m));
  }

  /// Adds every node of `other` (the same tree; the two hold disjoint leaves).
  void merge(const fixed_reduce_part& other)
  {
    SHRINK_EXPECTS(other.counts_ == counts_, "parts of reductions of different sizes");
    for (std::size_t level = 0; level < levels(); ++level)
      for (const auto& [index, node] : other.levels_[level].nodes) add(level, index, node);
  }

  /// Whether every leaf has been added: the root exists.
  bool complete() const { return !levels_.back().nodes.empty(); }
  /// The root: fixed_reduce_sequential's result over the leaves (complete() only).
  const T& root() const
  {
    SHRINK_EXPECTS(complete(), "the reduction is missing leaves");
    return levels_.back().nodes.begin()->second;
  }

  /// The nodes held at `level`, by index.
  const std::map<std::size_t, T>& nodes(std::size_t level) const { return levels_[level].nodes; }

  /// The leaves below node `index` of `level`: [first, second).
  std::pair<std::size_t, std::size_t> leaves_of(std::size_t level, std::size_t index) const
  {
    std::size_t width = 1;
    for (std::size_t k = 0; k < level; ++k) width *= fixed_tile;
    return {index * width, std::min(leaves(), (index + 1) * width)};
  }

 private:
  struct level_nodes {
    std::map<std::size_t, T> nodes;
    std::map<std::size_t, std::size_t> present;  ///< nodes held per tile not yet reduced
  };

  /// Whether an ancestor of (level, index) is held: its leaves are already in.
  bool held_above(std::size_t level, std::size_t index) const
  {
    for (std::size_t k = level + 1; k < levels(); ++k) {
      index /= fixed_tile;
      if (levels_[k].nodes.count(index) != 0) return true;
    }
    return false;
  }

  /// Whether a descendant of (level, index) is held: some of its leaves are already in.
  bool held_below(std::size_t level, std::size_t index) const
  {
    std::size_t begin = index, end = index + 1;
    for (std::size_t k = level; k-- > 0;) {
      begin *= fixed_tile;
      end *= fixed_tile;
      const auto it = levels_[k].nodes.lower_bound(begin);
      if (it != levels_[k].nodes.end() && it->first < end) return true;
    }
    return false;
  }

  std::vector<std::size_t> counts_;  ///< nodes per level
  std::vector<level_nodes> levels_;
};

}  // namespace shrink::detail
