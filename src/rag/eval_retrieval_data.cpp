// Test collections: BEIR files, and converters from SciFact's and Cranfield's raw formats (their
// quirks are described in shared/data/README.md).
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "pocket/core/error.h"
#include "pocket/rag/eval_retrieval.h"
#include "pocket/tokenizer/utf8.h"

namespace pocket::rag::eval {
namespace {

std::string read_all(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) fail("eval-retrieval: cannot read ", p.string());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        out.push_back(std::move(line));
    }
    return out;
}

std::vector<std::string> split_ws(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

// RFC 4180: fields may be quoted, with doubled quotes and line breaks inside.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
    std::vector<std::vector<std::string>> rows(1);
    std::string field;
    bool quoted = false, row_has_data = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == '"') {
            quoted = true;
            row_has_data = true;
        } else if (c == ',') {
            rows.back().push_back(std::move(field));
            field.clear();
            row_has_data = true;
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
            if (row_has_data || !field.empty()) {
                rows.back().push_back(std::move(field));
                rows.emplace_back();
            }
            field.clear();
            row_has_data = false;
        } else {
            field += c;
            row_has_data = true;
        }
    }
    if (row_has_data || !field.empty()) rows.back().push_back(std::move(field));
    if (rows.back().empty()) rows.pop_back();
    return rows;
}

// SciFact's abstract: a Python list literal of sentence strings ('...' or "..." with \n, \',
// \\, \xHH, \uHHHH escapes). Returns the sentences.
std::vector<std::string> parse_python_strings(const std::string& s) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < s.size()) {
        const char q = s[i];
        if (q != '\'' && q != '"') {
            ++i;
            continue;
        }
        std::string cur;
        ++i;
        while (i < s.size() && s[i] != q) {
            if (s[i] == '\\' && i + 1 < s.size()) {
                const char e = s[i + 1];
                i += 2;
                switch (e) {
                    case 'n':
                        cur += '\n';
                        break;
                    case 't':
                        cur += '\t';
                        break;
                    case 'r':
                        cur += '\r';
                        break;
                    case 'x':
                        tokenizer::utf8::append(
                            cur, static_cast<char32_t>(std::stoul(s.substr(i, 2), nullptr, 16)));
                        i += 2;
                        break;
                    case 'u':
                        tokenizer::utf8::append(
                            cur, static_cast<char32_t>(std::stoul(s.substr(i, 4), nullptr, 16)));
                        i += 4;
                        break;
                    default:
                        cur += e;
                }
            } else {
                cur += s[i++];
            }
        }
        ++i;  // closing quote
        out.push_back(std::move(cur));
    }
    return out;
}

std::map<std::string, size_t> header_index(const std::vector<std::string>& header) {
    std::map<std::string, size_t> idx;
    for (size_t i = 0; i < header.size(); ++i) idx[header[i]] = i;
    return idx;
}

// Keeps the queries that have at least one relevant document.
void keep_judged(Collection& c, std::vector<Query> queries) {
    for (auto& q : queries) {
        const auto it = c.qrels.find(q.id);
        if (it == c.qrels.end()) continue;
        bool any = false;
        for (const auto& [d, g] : it->second) any = any || g > 0;
        if (any) c.queries.push_back(std::move(q));
    }
}

}  // namespace

Collection load_beir(const std::filesystem::path& corpus, const std::filesystem::path& queries,
                     const std::filesystem::path& qrels) {
    Collection c;
    for (const auto& line : lines_of(read_all(corpus))) {
        if (line.empty()) continue;
        const auto j = nlohmann::json::parse(line);
        c.corpus.push_back(
            {j.at("_id").get<std::string>(), j.value("title", ""), j.value("text", "")});
    }
    std::vector<Query> qs;
    for (const auto& line : lines_of(read_all(queries))) {
        if (line.empty()) continue;
        const auto j = nlohmann::json::parse(line);
        qs.push_back({j.at("_id").get<std::string>(), j.at("text").get<std::string>()});
    }
    const auto qrel_lines = lines_of(read_all(qrels));
    for (size_t i = 0; i < qrel_lines.size(); ++i) {
        const auto f = split_ws(qrel_lines[i]);
        if (f.empty()) continue;
        if (i == 0 && f[0] == "query-id") continue;
        if (f.size() < 3) fail("eval-retrieval: ", qrels.string(), ":", i + 1, ": want 3 fields");
        c.qrels[f[0]][f[1]] = std::stod(f[2]);
    }
    keep_judged(c, std::move(qs));
    return c;
}

Collection load_scifact(const std::filesystem::path& dir, std::string_view split) {
    Collection c;
    const auto corpus = parse_csv(read_all(dir / "corpus_train.csv"));
    if (corpus.empty()) fail("eval-retrieval: ", (dir / "corpus_train.csv").string(), " is empty");
    auto h = header_index(corpus[0]);
    for (size_t r = 1; r < corpus.size(); ++r) {
        const auto& row = corpus[r];
        std::string text;
        for (const auto& s : parse_python_strings(row.at(h.at("abstract")))) {
            if (!text.empty()) text += ' ';
            text += s;
        }
        c.corpus.push_back({row.at(h.at("doc_id")), row.at(h.at("title")), std::move(text)});
    }
    std::vector<Query> qs;
    if (split == "test") {
        for (const auto& line : lines_of(read_all(dir / "queries.jsonl"))) {
            if (line.empty()) continue;
            const auto j = nlohmann::json::parse(line);
            qs.push_back({j.at("_id").get<std::string>(), j.at("text").get<std::string>()});
        }
        const auto qrel_lines = lines_of(read_all(dir / "qrels_test.tsv"));
        for (size_t i = 1; i < qrel_lines.size(); ++i) {
            const auto f = split_ws(qrel_lines[i]);
            if (f.size() >= 3) c.qrels[f[0]][f[1]] = std::stod(f[2]);
        }
    } else if (split == "train") {
        const auto claims = parse_csv(read_all(dir / "claims_train.csv"));
        h = header_index(claims.at(0));
        std::set<std::string> seen;
        for (size_t r = 1; r < claims.size(); ++r) {
            const auto& row = claims[r];
            const auto& id = row.at(h.at("id"));
            if (seen.insert(id).second) qs.push_back({id, row.at(h.at("claim"))});
            const auto& ev = row.at(h.at("evidence_doc_id"));
            if (!ev.empty()) c.qrels[id][ev] = 1;
        }
    } else {
        fail("eval-retrieval: SciFact split '", split, "' (valid: train, test)");
    }
    keep_judged(c, std::move(qs));
    return c;
}

Collection load_cranfield(const std::filesystem::path& dir) {
    Collection c;
    // SMART: ".I n" starts a record; ".T/.A/.B/.W" start fields whose text follows on the next
    // lines. Only the title and the abstract are kept (all .W parts, for the repeated ones).
    CorpusDoc* doc = nullptr;
    char field = 0;
    auto add_line = [](std::string& to, const std::string& line) {
        if (!to.empty()) to += '\n';
        to += line;
    };
    for (const auto& line : lines_of(read_all(dir / "cran.all.1400"))) {
        if (line.rfind(".I", 0) == 0) {
            c.corpus.push_back({split_ws(line.substr(2)).at(0), "", ""});
            doc = &c.corpus.back();
            field = 0;
        } else if (line.size() >= 2 && line[0] == '.' &&
                   std::string(".T.A.B.W").find(line.substr(0, 2)) != std::string::npos &&
                   (line.size() == 2 || line[2] == ' ')) {
            field = line[1];
        } else if (doc && field == 'T') {
            add_line(doc->title, line);
        } else if (doc && field == 'W') {
            add_line(doc->text, line);
        }
    }
    std::vector<Query> qs;
    Query* q = nullptr;
    for (const auto& line : lines_of(read_all(dir / "cran.qry"))) {
        if (line.rfind(".I", 0) == 0) {
            qs.push_back({std::to_string(qs.size() + 1), ""});  // position, not the .I id
            q = &qs.back();
        } else if (line.rfind(".W", 0) == 0) {
            continue;
        } else if (q) {
            add_line(q->text, line);
        }
    }
    for (const auto& line : lines_of(read_all(dir / "cranqrel"))) {
        const auto f = split_ws(line);
        if (f.size() < 3) continue;
        const int grade = std::stoi(f[2]);
        c.qrels[f[0]][f[1]] = (grade >= 1 && grade <= 4) ? 5.0 - grade : 0.0;
    }
    keep_judged(c, std::move(qs));
    return c;
}

void write_beir(const Collection& c, const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    std::ofstream corpus(dir / "corpus.jsonl"), queries(dir / "queries.jsonl"),
        qrels(dir / "qrels.tsv");
    for (const auto& d : c.corpus) {
        corpus << nlohmann::json{{"_id", d.id}, {"title", d.title}, {"text", d.text}}.dump(
                      -1, ' ', false, nlohmann::json::error_handler_t::replace)
               << '\n';
    }
    for (const auto& q : c.queries) {
        queries << nlohmann::json{{"_id", q.id}, {"text", q.text}}.dump() << '\n';
    }
    qrels << "query-id\tcorpus-id\tscore\n";
    for (const auto& [q, docs] : c.qrels) {
        for (const auto& [d, g] : docs) qrels << q << '\t' << d << '\t' << g << '\n';
    }
    if (!corpus || !queries || !qrels) fail("eval-retrieval: writing ", dir.string(), " failed");
}

}  // namespace pocket::rag::eval
