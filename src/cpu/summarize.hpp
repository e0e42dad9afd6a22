#pragma once

#include "../common/group_sums.hpp"

#include <shrink/fit.hpp>

#include <vector>

namespace shrink::detail {

/// n_j, ybar_j and m2_j of every group by Welford's update over the group's rows in input order.
/// Each group sees exactly the sequential order of updates, whatever the thread count, so the
/// result is bitwise the same for any thread count. Throws shrink::error for ids outside [0, groups).
std::vector<group_summary> summarize_groups(const raw_data_view& data, int threads);

}  // namespace shrink::detail
