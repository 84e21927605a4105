// JSON wire shapes of the sync protocol (protocol 1; described in full in docs/sync.md), shared
// by the HTTP routes (server/routes_sync.cc) and the replicator.
//
//   change = {"seq", "collection", "doc_id", "hlc": "<decimal string>", "node_id", "deleted",
//             "content_hash", "document"?}
//   document = {"title", "source", "mime", "metadata": {...}, "size_bytes", "created_at",
//               "updated_at", "embedder", "dim", "chunks": [{"text", "char_start", "char_end",
//               "page", "heading_path", "token_count"}], "vectors"?: ["<base64 float32 LE>", ...]}
// HLCs are 64-bit and JSON numbers above 2^53 lose precision in JavaScript, so they are written
// as decimal strings; input accepts a string or a non-negative integer.
//
// Thread safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include <vector>

#include "common/status.h"
#include "kb/kb.h"

namespace deepkb::sync {

inline constexpr int kProtocol = 1;

nlohmann::json ChangeToJson(const kb::SyncChange& c);
// InvalidArgument naming the first bad field ("change.document.chunks[2].text: ...").
Result<kb::SyncChange> ChangeFromJson(const nlohmann::json& j);

nlohmann::json PageToJson(const kb::ChangePage& p);  // {"changes", "last_seq", "update_seq", "more"}
Result<kb::ChangePage> PageFromJson(const nlohmann::json& j);

// The source's tombstone horizon from a GET /v1/sync/info answer: "purged_hlc" (a decimal
// string or integer); 0 when absent (a node from before the field existed: nothing is pruned
// against it). InvalidArgument when malformed.
Result<uint64_t> InfoPurgedHlc(const nlohmann::json& info);

// {"results": [{"doc_id", "outcome", "reason"?}], "applied", "ignored", "conflicts", "rejected"}
// `doc_ids` names each result (same length as `results`).
nlohmann::json ApplyResultsToJson(const std::vector<kb::ApplyResult>& results,
                                  const std::vector<std::string>& doc_ids);

// Base64 (RFC 4648, padded) of float32 values in little-endian byte order, and back
// (InvalidArgument for bad base64 or a length that is not a multiple of 4).
std::string VectorToBase64(const std::vector<float>& v);
Result<std::vector<float>> VectorFromBase64(const std::string& b64);

}  // namespace deepkb::sync
