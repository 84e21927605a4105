// Route tables of `deepkb serve`, one function per area. Each returns routes with their
// declared permission (server/http.h); KbServer registers them all.
#pragma once

#include <vector>

#include "kb/kb.h"
#include "server/http.h"

namespace deepkb::server {

// /healthz, /readyz and the knowledge-base routes of CONTRACT.md.
std::vector<Route> KbRoutes(kb::KnowledgeBase& kb);

}  // namespace deepkb::server
