// Child process for crash_test: writes documents into a KB in a loop and reports each write on
// stdout, "begin <op> <id> <hash>" before and "done <op> <id> <hash>" after the call returned OK
// (i.e. after the SQLite commit). The parent SIGKILLs it at random moments.
//   usage: crash_writer DATA_DIR SEED
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "common/hash.h"
#include "kb/kb.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: crash_writer DATA_DIR SEED\n");
    return 2;
  }
  const std::string dir = argv[1];
  const unsigned seed = static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10));
  auto kb = deepkb::kb::KnowledgeBase::Open(dir);
  if (!kb.ok()) {
    std::fprintf(stderr, "open: %s\n", kb.status().ToString().c_str());
    return 1;
  }
  auto& k = **kb;
  if (!k.GetCollection("crash").ok()) {
    auto c = k.CreateCollection({.name = "crash", .chunk_tokens = 64, .chunk_overlap = 8});
    if (!c.ok()) {
      std::fprintf(stderr, "create: %s\n", c.status().ToString().c_str());
      return 1;
    }
  }
  std::mt19937 rng(seed);
  static const char* kWords[] = {"数据库", "replication", "索引", "checkpoint", "知识库",
                                 "latency", "事务", "snapshot", "检索", "durability"};
  for (int i = 0;; ++i) {
    // Mostly creates, some updates of recent documents, some deletes.
    const int op = static_cast<int>(rng() % 10);
    const int target = (op >= 7 && i > 0) ? static_cast<int>(rng() % static_cast<unsigned>(i)) : i;
    const std::string id = "s" + std::to_string(seed) + "_" + std::to_string(target);
    if (op == 9 && i > 0) {
      std::printf("begin delete %s -\n", id.c_str());
      std::fflush(stdout);
      auto r = k.DeleteDocument("crash", id);
      if (r.ok()) {
        std::printf("done delete %s -\n", id.c_str());
        std::fflush(stdout);
      }
      continue;
    }
    std::string text = "marker tok" + std::to_string(seed) + "x" + std::to_string(target) +
                       "v" + std::to_string(i) + ".\n\n";
    const int paragraphs = 3 + static_cast<int>(rng() % 20);
    for (int p = 0; p < paragraphs; ++p) {
      for (int w = 0; w < 40; ++w) {
        text += kWords[rng() % 10];
        text += (w % 9 == 8) ? "。" : " ";
      }
      text += "\n\n";
    }
    const std::string hash = deepkb::Sha256Hex(text);
    const char* opname = target == i ? "create" : "update";
    std::printf("begin %s %s %s\n", opname, id.c_str(), hash.c_str());
    std::fflush(stdout);
    deepkb::kb::PutDocumentRequest req;
    req.collection = "crash";
    req.doc_id = id;
    req.bytes = text;
    req.format = deepkb::text::Format::kText;
    auto r = k.PutDocument(req);
    if (!r.ok()) {
      std::fprintf(stderr, "put: %s\n", r.status().ToString().c_str());
      return 1;
    }
    std::printf("done %s %s %s\n", opname, id.c_str(), hash.c_str());
    std::fflush(stdout);
  }
}
