// The local model's /v1/chat/completions, for the routes that decide between it and the cloud
// (server/cloud_routes.h). Internal to src/server.
#pragma once

#include <string_view>

#include <httplib.h>

#include "server/server_context.h"

namespace pocket::server {

// Answers the request with the local model (streamed or not, as it asks). `route` (null when
// routing is off) goes into `pocket.route` and sets `x-pocket-route: local`.
void answer_chat_locally(ServerContext& ctx, const json& body, const json& route,
                         httplib::Response& res);

// Streams a local answer into an open event stream: the model continues `shown`, the answer
// text the client has already received (empty: a fresh answer). `head`: write the opening chunk
// (nothing was sent yet). Ends the stream with [DONE]; a request the model cannot take ends it
// with an error event. False when the client went away.
bool stream_chat_locally(ServerContext& ctx, const json& body, const json& route,
                         std::string_view shown, bool head, httplib::DataSink& sink);

}  // namespace pocket::server
