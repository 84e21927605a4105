#include "kb/filter.h"

#include <cmath>

namespace deepkb::kb {

namespace {

using nlohmann::json;
using storage::SqlFilter;
using storage::SqlValue;

constexpr int kMaxDepth = 8;
constexpr size_t kMaxConditions = 256;
constexpr size_t kMaxInValues = 1000;

struct Compiler {
  SqlFilter out;
  size_t conditions = 0;

  Status Error(const std::string& path, const std::string& what) {
    return InvalidArgumentError(path + ": " + what);
  }

  Result<SqlValue> Value(const json& v, const std::string& path) {
    if (v.is_string()) return SqlValue(v.get<std::string>());
    if (v.is_boolean()) return SqlValue(static_cast<int64_t>(v.get<bool>() ? 1 : 0));
    if (v.is_number_integer()) return SqlValue(v.get<int64_t>());
    if (v.is_number_unsigned()) {
      const auto u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Error(path, "integer too large");
      return SqlValue(static_cast<int64_t>(u));
    }
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (!std::isfinite(d)) return Error(path, "numbers must be finite");
      return SqlValue(d);
    }
    return Error(path, "values must be strings, numbers or booleans");
  }

  // The SQL for a field reference, with its parameters appended to `out`.
  std::string Field(const std::string& name) {
    if (name == "doc_id") return "d.doc_id";
    if (name == "source") return "d.source";
    out.params.push_back("$.\"" + name + "\"");
    return "json_extract(d.metadata, ?)";
  }

  Status Condition(const std::string& field, const json& cond, const std::string& path,
                   std::string& sql) {
    for (char c : field) {
      if (static_cast<unsigned char>(c) < 0x20 || c == '"') {
        return Error(path, "field names must not contain double quotes or control characters");
      }
    }
    if (field.empty()) return Error(path, "empty field name");
    if (++conditions > kMaxConditions) return Error(path, "too many conditions (limit 256)");
    if (!cond.is_object()) {
      std::string f = Field(field);
      ASSIGN_OR_RETURN(SqlValue v, Value(cond, path));
      out.params.push_back(std::move(v));
      sql = "(" + f + " = ?)";
      return Status::Ok();
    }
    if (cond.empty()) return Error(path, "empty condition object");
    std::vector<std::string> parts;
    for (const auto& [op, arg] : cond.items()) {
      const std::string p = path + "." + op;
      if (op == "$in") {
        if (!arg.is_array() || arg.empty()) return Error(p, "$in needs a non-empty array");
        if (arg.size() > kMaxInValues) return Error(p, "$in takes at most 1000 values");
        std::string f = Field(field);
        std::string list;
        for (size_t i = 0; i < arg.size(); ++i) {
          ASSIGN_OR_RETURN(SqlValue v, Value(arg[i], p + "[" + std::to_string(i) + "]"));
          out.params.push_back(std::move(v));
          list += i ? ", ?" : "?";
        }
        parts.push_back(f + " IN (" + list + ")");
        continue;
      }
      const char* sql_op = op == "$eq"    ? "="
                           : op == "$ne"  ? "<>"
                           : op == "$gt"  ? ">"
                           : op == "$gte" ? ">="
                           : op == "$lt"  ? "<"
                           : op == "$lte" ? "<="
                                          : nullptr;
      if (sql_op == nullptr) {
        return Error(p, "unknown operator; use $eq $ne $gt $gte $lt $lte $in");
      }
      std::string f = Field(field);
      ASSIGN_OR_RETURN(SqlValue v, Value(arg, p));
      out.params.push_back(std::move(v));
      parts.push_back(f + " " + sql_op + " ?");
    }
    sql = "(";
    for (size_t i = 0; i < parts.size(); ++i) sql += (i ? " AND " : "") + parts[i];
    sql += ")";
    return Status::Ok();
  }

  Status Node(const json& node, const std::string& path, int depth, std::string& sql) {
    if (depth > kMaxDepth) return Error(path, "nested too deeply (limit 8)");
    if (!node.is_object()) return Error(path, "must be an object");
    if (node.empty()) return Error(path, "empty filter object");
    std::vector<std::string> parts;
    for (const auto& [key, val] : node.items()) {
      const std::string p = path + "." + key;
      std::string part;
      if (key == "$and" || key == "$or") {
        if (!val.is_array() || val.empty()) return Error(p, key + " needs a non-empty array");
        std::vector<std::string> subs;
        for (size_t i = 0; i < val.size(); ++i) {
          std::string s;
          RETURN_IF_ERROR(Node(val[i], p + "[" + std::to_string(i) + "]", depth + 1, s));
          subs.push_back(s);
        }
        part = "(";
        for (size_t i = 0; i < subs.size(); ++i) {
          part += (i ? (key == "$and" ? " AND " : " OR ") : "") + subs[i];
        }
        part += ")";
      } else if (!key.empty() && key[0] == '$') {
        return Error(p, "unknown operator; use $and or $or at this level");
      } else {
        RETURN_IF_ERROR(Condition(key, val, p, part));
      }
      parts.push_back(part);
    }
    sql = "(";
    for (size_t i = 0; i < parts.size(); ++i) sql += (i ? " AND " : "") + parts[i];
    sql += ")";
    return Status::Ok();
  }
};

}  // namespace

Result<storage::SqlFilter> CompileFilter(const nlohmann::json& filter) {
  if (filter.is_null()) return storage::SqlFilter{};
  Compiler c;
  std::string sql;
  RETURN_IF_ERROR(c.Node(filter, "filter", 1, sql));
  c.out.where = sql;
  return std::move(c.out);
}

}  // namespace deepkb::kb
