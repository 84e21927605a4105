#include "storage/sql_filter.h"

namespace deepkb::storage {

std::string NumberedWhere(const SqlFilter& filter, int first) {
  std::string out;
  out.reserve(filter.where.size() + 16);
  int n = first;
  for (char c : filter.where) {
    if (c == '?') {
      out += '?';
      out += std::to_string(n++);
    } else {
      out += c;
    }
  }
  return out;
}

void BindFilter(Statement& stmt, int first, const SqlFilter& filter) {
  int idx = first;
  for (const SqlValue& v : filter.params) {
    std::visit([&](const auto& x) { stmt.Bind(idx, x); }, v);
    ++idx;
  }
}

}  // namespace deepkb::storage
