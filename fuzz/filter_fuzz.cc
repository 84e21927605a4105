// Fuzz target: any JSON text as a search filter → CompileFilter → SQL over documents. Invariant:
// a filter either is rejected with InvalidArgument or compiles to SQL that SQLite accepts.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_env.h"
#include "kb/filter.h"
#include "storage/sql_filter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace deepkb;
  auto j = nlohmann::json::parse(reinterpret_cast<const char*>(data),
                                 reinterpret_cast<const char*>(data) + size, nullptr, false);
  if (j.is_discarded()) return 0;
  auto f = kb::CompileFilter(j);
  if (!f.ok()) {
    if (f.status().code() != StatusCode::kInvalidArgument) {
      fuzz::Check(f.status(), "CompileFilter must fail only with InvalidArgument");
    }
    return 0;
  }
  auto& env = fuzz::GetEnv();
  std::string sql = "SELECT count(*) FROM documents d";
  if (!f->empty()) sql += " WHERE " + storage::NumberedWhere(*f, 1);
  auto st = env.db->Prepare(sql);
  fuzz::Check(st.status(), "prepare compiled filter");
  storage::BindFilter(*st, 1, *f);
  fuzz::Check(st->Step().status(), "run compiled filter");
  return 0;
}
