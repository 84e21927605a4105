// A parameterised SQL boolean expression over the `documents` table (alias d), produced from
// user filters by kb/filter.h and consumed by the keyword and vector search paths. The text
// contains only `?` placeholders for user values, never user text.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "storage/sqlite.h"

namespace deepkb::storage {

using SqlValue = std::variant<int64_t, double, std::string>;

struct SqlFilter {
  std::string where;  // e.g. "(json_extract(d.metadata, ?) = ?)"; "" = no restriction
  std::vector<SqlValue> params;
  bool empty() const { return where.empty(); }
};

// filter.where with its `?` placeholders numbered ?first, ?first+1, ... so it can be spliced into
// a statement that uses numbered parameters (SQLite numbers a bare `?` after the largest number
// seen so far in the text, which would collide).
std::string NumberedWhere(const SqlFilter& filter, int first);

// Binds filter.params starting at parameter index `first`.
void BindFilter(Statement& stmt, int first, const SqlFilter& filter);

}  // namespace deepkb::storage
