#include "server/rag_routes.h"

#include <cstdio>
#include <mutex>

#include "pocket/core/error.h"
#include "pocket/embed/embedder.h"
#include "pocket/rag/retriever.h"
#include "pocket/rag/store.h"
#include "server/api_error.h"
#include "server/generation.h"
#include "server/json_fields.h"

namespace pocket::server {

namespace {
constexpr int64_t kMaxK = 50;
constexpr int64_t kDefaultK = 5;
}  // namespace

struct RagIndex {
    std::string name;
    std::unique_ptr<rag::Store> store;
    std::unique_ptr<embed::Embedder> embedder;
    std::unique_ptr<rag::Retriever> retriever;
    std::mutex mutex;  // one search at a time per index (one SQLite connection)
};

struct RagIndexes {
    std::map<std::string, std::unique_ptr<RagIndex>> by_name;
};

std::shared_ptr<RagIndexes> open_rag_indexes(
    const std::map<std::string, std::filesystem::path>& indexes) {
    auto out = std::make_shared<RagIndexes>();
    for (const auto& [name, path] : indexes) {
        if (!std::filesystem::exists(path))
            fail("RAG index '", name, "': no database at ", path.string());
        auto index = std::make_unique<RagIndex>();
        index->name = name;
        try {
            index->store = rag::Store::open(path, /*read_only=*/true);
        } catch (const std::exception& e) {
            fail("RAG index '", name, "': ", e.what());
        }
        const std::string embed_model = index->store->meta().embed_model;
        if (!embed_model.empty() && std::filesystem::exists(embed_model)) {
            index->embedder = embed::open_embedder(embed_model);
        } else if (!embed_model.empty()) {
            std::fprintf(stderr,
                         "pocket serve: RAG index '%s': embedding model %s not found; searching "
                         "it with bm25 only\n",
                         name.c_str(), embed_model.c_str());
        }
        index->retriever = std::make_unique<rag::Retriever>(*index->store, index->embedder.get());
        out->by_name.emplace(name, std::move(index));
    }
    return out;
}

namespace {

RagIndex& find_index(ServerContext& ctx, const std::string& name) {
    std::string known;
    if (ctx.rag) {
        const auto it = ctx.rag->by_name.find(name);
        if (it != ctx.rag->by_name.end()) return *it->second;
        for (const auto& entry : ctx.rag->by_name)
            known += (known.empty() ? "" : ", ") + entry.first;
    }
    throw not_found(known.empty()
                        ? cat("unknown RAG index '", name,
                              "': this server has none (start it with --rag-index "
                              "NAME=DB)")
                        : cat("unknown RAG index '", name, "' (this server has: ", known, ")"));
}

struct Query {
    RagIndex* index = nullptr;
    std::string text;
    rag::SearchOptions options;
};

// index, k, mode of a search (body) or a chat's pocket.rag object (parent names it in errors).
Query parse_query(ServerContext& ctx, const json& obj, std::string_view parent) {
    Query q;
    std::optional<std::string> name = string(obj, "index", parent);
    if (!name) name = string(obj, "db", parent);  // an index name too, never a path
    if (!name) {
        if (ctx.rag && ctx.rag->by_name.size() == 1) {
            name = ctx.rag->by_name.begin()->first;
        } else {
            throw missing_field("index", parent);
        }
    }
    q.index = &find_index(ctx, *name);
    q.options.k = static_cast<int>(integer(obj, "k", 1, kMaxK, parent).value_or(kDefaultK));
    const std::string mode = string(obj, "mode", parent).value_or("hybrid");
    try {
        q.options.mode = rag::parse_search_mode(mode);
    } catch (const Error& e) {
        throw bad_request(e.what(), join_path(parent, "mode"));
    }
    return q;
}

std::vector<rag::SearchHit> search(const Query& q, bool* fell_back = nullptr) {
    std::lock_guard lock(q.index->mutex);
    std::vector<rag::SearchHit> hits = q.index->retriever->search(q.text, q.options);
    if (fell_back) *fell_back = q.index->retriever->fell_back_to_bm25();
    return hits;
}

}  // namespace

void add_rag_routes(httplib::Server& http, ServerContext& ctx) {
    add_post(http, ctx, "/v1/rag/search",
             [&ctx](const httplib::Request& req, httplib::Response& res) {
                 const json body = parse_body(req.body);
                 Query q = parse_query(ctx, body, "");
                 q.text = required(string(body, "query"), "query");
                 if (q.text.find_first_not_of(" \t\r\n") == std::string::npos)
                     throw bad_request("`query` is empty", "query");
                 bool fell_back = false;
                 const std::vector<rag::SearchHit> hits = search(q, &fell_back);
                 json data = json::array();
                 for (size_t i = 0; i < hits.size(); ++i)
                     data.push_back(rag::hit_json(hits[i], static_cast<int>(i) + 1));
                 send_json(res, {{"object", "list"},
                                 {"index", q.index->name},
                                 {"query", q.text},
                                 {"mode", std::string(rag::search_mode_name(
                                              fell_back ? rag::SearchMode::Bm25 : q.options.mode))},
                                 {"data", std::move(data)}});
             });
    http.Get("/v1/rag/indexes", [&ctx](const httplib::Request&, httplib::Response& res) {
        json data = json::array();
        if (ctx.rag) {
            for (const auto& [name, index] : ctx.rag->by_name) {
                std::lock_guard lock(index->mutex);
                data.push_back({{"name", name},
                                {"documents", index->store->document_count()},
                                {"chunks", index->store->chunk_count()},
                                {"embeddings", index->embedder != nullptr}});
            }
        }
        send_json(res, {{"object", "list"}, {"data", std::move(data)}});
    });
}

std::optional<ChatGrounding> chat_grounding(ServerContext& ctx, const json& body,
                                            const serve::LoadedModel& model, int64_t max_tokens) {
    const json* ext = object(body, "pocket");
    if (!ext) return std::nullopt;
    const json* rag_obj = object(*ext, "rag", "pocket");
    if (!rag_obj) return std::nullopt;
    const std::string parent = "pocket.rag";
    if (body.contains("tools") && !body["tools"].is_null())
        throw bad_request("`pocket.rag` cannot be combined with `tools`", "pocket.rag");
    Query q = parse_query(ctx, *rag_obj, parent);
    const json& messages = required(array(body, "messages"), "messages");
    json conversation = json::array();
    for (size_t i = 0; i < messages.size(); ++i) {
        const json& m = as_object(messages[i], index_path("messages", i));
        const std::string role = required(string(m, "role", index_path("messages", i)), "role",
                                          index_path("messages", i));
        if (role != "system" && role != "user" && role != "assistant") continue;
        conversation.push_back({{"role", role},
                                {"content", content_text(m.value("content", json()),
                                                         index_path("messages", i) + ".content")}});
    }
    if (const auto query = string(*rag_obj, "query", parent)) {
        q.text = *query;
    } else {
        for (auto it = conversation.rbegin(); it != conversation.rend(); ++it)
            if ((*it)["role"] == "user") {
                q.text = (*it)["content"].get<std::string>();
                break;
            }
    }
    if (q.text.find_first_not_of(" \t\r\n") == std::string::npos)
        throw bad_request("`pocket.rag` needs a user message (or `pocket.rag.query`) to search for",
                          "messages");
    if (conversation.empty() || conversation.back()["role"] != "user")
        conversation.push_back({{"role", "user"}, {"content", q.text}});

    bool fell_back = false;
    const std::vector<rag::SearchHit> hits = search(q, &fell_back);
    rag::GroundingOptions options;
    options.context_tokens = model.scheduler().slot_ctx();
    options.answer_tokens =
        std::min<int64_t>(max_tokens > 0 ? max_tokens : 512, options.context_tokens / 2);
    options.min_relevance = number(*rag_obj, "min_relevance", 0.0, 1.0, parent)
                                .value_or(rag::default_min_relevance(
                                    fell_back ? rag::SearchMode::Bm25 : q.options.mode));
    ChatGrounding out;
    out.index = q.index->name;
    try {
        out.prompt = rag::build_grounded_conversation(
            model.chat_template(), model.model().tokenizer(), conversation, hits, options);
    } catch (const TemplateError& e) {
        throw bad_request(cat("the model's chat template rejected the messages: ", e.description()),
                          "messages");
    } catch (const Error& e) {
        throw bad_request(e.what(), "messages", "context_length_exceeded");
    }
    return out;
}

}  // namespace pocket::server
