// The web UI's files (ui/ in the source tree), embedded into the binary at build time by
// ui_embed.cmake, which generates the table below (ui_assets_data.cc in the build directory).
// Paths are relative to ui/ with '/' separators ("index.html", "js/app.js").
#pragma once

#include <cstddef>
#include <string_view>

namespace deepkb::server {

struct UiAsset {
  std::string_view path;
  std::string_view content_type;
  std::string_view etag;  // a quoted strong validator: the first 128 bits of the SHA-256 in hex
  std::string_view bytes;
};

// Sorted by path. Defined in the generated source.
extern const UiAsset kUiAssets[];
extern const std::size_t kUiAssetCount;

// The asset at `path`, or nullptr.
const UiAsset* FindUiAsset(std::string_view path);

}  // namespace deepkb::server
