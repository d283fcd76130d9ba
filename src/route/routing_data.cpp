// Labelled routing data: RouteLLM-style CSV files and MT-Bench judgement JSONL.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "pocket/core/error.h"
#include "pocket/route/router.h"

namespace pocket::route {

namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), ": cannot open");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// RFC 4180: fields separated by commas, records by CRLF or LF; a quoted field may hold commas,
// newlines and doubled quotes. Returns records of fields.
std::vector<std::vector<std::string>> parse_csv(std::string_view text, const fs::path& path) {
    std::vector<std::vector<std::string>> records;
    std::vector<std::string> record;
    std::string field;
    size_t line = 1;
    size_t i = 0;
    if (text.starts_with("\xEF\xBB\xBF")) i = 3;  // a UTF-8 byte order mark
    bool any = false;
    while (i < text.size()) {
        const char c = text[i];
        if (c == '"' && field.empty()) {
            const size_t start_line = line;
            ++i;
            for (;;) {
                if (i >= text.size())
                    fail(path.string(), ":", start_line, ": unterminated quoted field");
                if (text[i] == '"') {
                    if (i + 1 < text.size() && text[i + 1] == '"') {
                        field += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                if (text[i] == '\n') ++line;
                field += text[i++];
            }
            if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
                fail(path.string(), ":", line, ": text after a closing quote");
            any = true;
            continue;
        }
        if (c == ',') {
            record.push_back(std::move(field));
            field.clear();
            any = true;
            ++i;
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
            ++i;
            ++line;
            if (any || !field.empty()) {
                record.push_back(std::move(field));
                records.push_back(std::move(record));
            }
            record.clear();
            field.clear();
            any = false;
        } else {
            field += c;
            any = true;
            ++i;
        }
    }
    if (any || !field.empty()) {
        record.push_back(std::move(field));
        records.push_back(std::move(record));
    }
    return records;
}

double parse_result(std::string_view v, const fs::path& path, size_t row, std::string_view column) {
    if (v == "True" || v == "true" || v == "TRUE") return 1.0;
    if (v == "False" || v == "false" || v == "FALSE") return 0.0;
    double out = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc() || end != v.data() + v.size() || !std::isfinite(out))
        fail(path.string(), ": row ", row, ": column '", column, "' holds '", v,
             "', not True/False or a number");
    return out;
}

void read_csv(const fs::path& path, std::string_view weak, std::string_view strong,
              std::vector<RoutingExample>& out) {
    const auto records = parse_csv(read_all(path), path);
    if (records.empty()) fail(path.string(), ": empty CSV");
    const auto& header = records[0];
    const auto column = [&](std::string_view name) {
        const auto it = std::find(header.begin(), header.end(), name);
        if (it == header.end()) fail(path.string(), ": no column '", name, "' in the header");
        return static_cast<size_t>(it - header.begin());
    };
    const size_t p = column("prompt"), w = column(weak), s = column(strong);
    for (size_t r = 1; r < records.size(); ++r) {
        const auto& rec = records[r];
        if (rec.size() != header.size())
            fail(path.string(), ": row ", r, " has ", rec.size(), " fields, the header ",
                 header.size());
        out.push_back({rec[p], parse_result(rec[w], path, r, weak),
                       parse_result(rec[s], path, r, strong), path.stem().string()});
    }
}

// MT-Bench: judgements per (question, model, turn); the prompt is the question's first turn.
void read_mt_bench(const fs::path& path, std::string_view weak, std::string_view strong,
                   std::vector<RoutingExample>& out) {
    fs::path questions;
    for (const auto& dir : {path.parent_path(), path.parent_path().parent_path(),
                            path.parent_path().parent_path().parent_path()})
        for (const auto* name : {"mt_bench_questions.jsonl", "question.jsonl"})
            if (questions.empty() && fs::exists(dir / name)) questions = dir / name;
    if (questions.empty())
        fail(
            path.string(),
            ": no mt_bench_questions.jsonl or question.jsonl beside it or up to two folders above");
    std::map<int64_t, std::pair<std::string, std::string>> texts;  // id -> (first turn, category)
    {
        std::istringstream in(read_all(questions));
        std::string line;
        for (size_t n = 1; std::getline(in, line); ++n) {
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
            try {
                const auto j = nlohmann::json::parse(line);
                texts[j.at("question_id").get<int64_t>()] = {
                    j.at("turns").at(0).get<std::string>(),
                    j.value("category", std::string("mt_bench"))};
            } catch (const nlohmann::json::exception& e) {
                fail(questions.string(), ":", n, ": ", e.what());
            }
        }
    }
    std::map<int64_t, std::pair<std::vector<double>, std::vector<double>>> scores;
    std::istringstream in(read_all(path));
    std::string line;
    for (size_t n = 1; std::getline(in, line); ++n) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        try {
            const auto j = nlohmann::json::parse(line);
            const auto model = j.at("model").get<std::string>();
            const double score = j.at("score").get<double>();
            const auto id = j.at("question_id").get<int64_t>();
            if (model == weak) scores[id].first.push_back(score);
            if (model == strong) scores[id].second.push_back(score);
        } catch (const nlohmann::json::exception& e) {
            fail(path.string(), ":", n, ": ", e.what());
        }
    }
    const auto mean = [](const std::vector<double>& v) {
        double s = 0;
        for (const double x : v) s += x;
        return s / static_cast<double>(v.size());
    };
    size_t added = 0;
    for (const auto& [id, pair] : scores) {
        if (pair.first.empty() || pair.second.empty()) continue;  // judged for one model only
        const auto it = texts.find(id);
        if (it == texts.end())
            fail(path.string(), ": question ", id, " is not in ", questions.string());
        out.push_back({it->second.first, mean(pair.first), mean(pair.second),
                       "mt_bench_" + it->second.second});
        ++added;
    }
    if (added == 0)
        fail(path.string(), ": no question judged for both '", weak, "' and '", strong, "'");
}

}  // namespace

std::vector<RoutingExample> read_routing_examples(const std::vector<fs::path>& files,
                                                  std::string_view weak_column,
                                                  std::string_view strong_column) {
    std::vector<RoutingExample> out;
    for (const auto& file : files) {
        if (file.extension() == ".jsonl")
            read_mt_bench(file, weak_column, strong_column, out);
        else
            read_csv(file, weak_column, strong_column, out);
    }
    return out;
}

}  // namespace pocket::route
