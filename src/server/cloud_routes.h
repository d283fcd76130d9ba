// /v1/chat/completions when hybrid routing is on (--cloud): each request is decided by the
// router (or its `pocket.route` override), then answered by the local model or by the cloud
// endpoint, redacted on the way out and re-hydrated on the way back. A cloud failure falls back
// to the local model (a stream continues from the text already shown) or fails with 502
// `cloud_failed`, per --cloud-fallback. Internal to src/server.
#pragma once

#include <httplib.h>

#include "server/server_context.h"

namespace pocket::server {

void routed_chat(ServerContext& ctx, const json& body, httplib::Response& res);

}  // namespace pocket::server
