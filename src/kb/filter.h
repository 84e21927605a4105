// Search filters (CONTRACT.md): a JSON object over document fields, turned into a parameterised
// SQL expression over `documents d`.
//
//   {"field": value}                          equality
//   {"field": {"$in": [v1, v2]}}              membership
//   {"field": {"$gte": x, "$lt": y}}          ranges ($gt $gte $lt $lte $ne $eq), combined AND
//   {"$and": [f1, f2]}, {"$or": [f1, f2]}     combinations; several keys in one object = AND
//
// Fields are metadata keys, plus the built-ins doc_id and source. Values are strings, numbers
// or booleans (booleans compare as 1/0, as SQLite's JSON functions return them). Field names may
// contain any characters except double quotes and control characters (they are bound as quoted
// JSON path labels, never spliced into SQL; SQLite's path syntax has no escape for '"').
// Errors are InvalidArgument with the path of the offending part ("filter.$or[1].team: ...").
// Limits: depth 8, 256 conditions, 1000 values per $in.
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "storage/sql_filter.h"

namespace deepkb::kb {

Result<storage::SqlFilter> CompileFilter(const nlohmann::json& filter);

}  // namespace deepkb::kb
