// Local RAG over HTTP: the indexes named at start (`pocket serve --rag-index NAME=DB`; a request
// names an index, never a path), POST /v1/rag/search, GET /v1/rag/indexes, and the `pocket.rag`
// extension of /v1/chat/completions that grounds the answer in retrieved sources
// (pocket/rag/grounded_prompt.h). Internal to src/server.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "pocket/rag/grounded_prompt.h"
#include "server/server_context.h"

namespace pocket::server {

struct RagIndexes;

// Opens every index read-only (with the embedder each was built with, when that file can be
// opened; else retrieval is lexical). Throws pocket::Error naming the index that cannot be opened.
std::shared_ptr<RagIndexes> open_rag_indexes(
    const std::map<std::string, std::filesystem::path>& indexes);

void add_rag_routes(httplib::Server& http, ServerContext& ctx);

// The grounding of a chat request that carries {"pocket": {"rag": {"index": NAME, "k": N,
// "mode": ..., "min_relevance": X, "query": ...}}}; nullopt when it carries none. The query
// defaults to the last user message. prompt.relevant false: answer no_answer_text() without the
// model. ApiError 400/404 for bad input.
struct ChatGrounding {
    std::string index;
    rag::GroundedPrompt prompt;
};
std::optional<ChatGrounding> chat_grounding(ServerContext& ctx, const json& body,
                                            const serve::LoadedModel& model, int64_t max_tokens);

}  // namespace pocket::server
