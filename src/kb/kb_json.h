// JSON shapes of KB objects, shared by the CLI (--json) and the HTTP API so both print the same
// thing (CONTRACT.md: "`deepkb search --json` prints {"hits":[...]} with the same hit shape as
// the HTTP API").
#pragma once

#include <nlohmann/json.hpp>

#include "kb/kb.h"

namespace deepkb::kb {

nlohmann::json CollectionToJson(const CollectionRow& c);
nlohmann::json DocumentToJson(const DocumentRow& d);
nlohmann::json ChunkToJson(const ChunkRow& c);
nlohmann::json HitToJson(const SearchHit& h);
// Parses stored metadata text; an object (empty when the text is not valid JSON).
nlohmann::json MetadataToJson(const std::string& text);

}  // namespace deepkb::kb
