#include "pocket/model/model_directory.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "pocket/core/dtype.h"
#include "pocket/core/error.h"
#include "pocket/gguf/gguf.h"

namespace pocket::model {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kGgufSuffix = ".gguf";

bool is_hf_folder(const fs::path& path) {
    std::error_code ec;
    return fs::is_directory(path, ec) && fs::is_regular_file(path / "config.json", ec);
}

// The name a directory entry is listed under, or nullopt when it is not a model.
std::optional<std::string> model_name(const fs::directory_entry& entry) {
    const std::string file = entry.path().filename().string();
    if (file.empty() || file.front() == '.') return std::nullopt;
    if (is_hf_folder(entry.path())) return file;
    std::error_code ec;
    if (fs::is_directory(entry.path(), ec)) return std::nullopt;
    // Regular files and symlinks, broken ones included: those are listed with their error.
    if (file.size() > kGgufSuffix.size() && file.ends_with(kGgufSuffix)) {
        return file.substr(0, file.size() - kGgufSuffix.size());
    }
    return std::nullopt;
}

void describe_gguf(ModelEntry& entry) {
    entry.format = "gguf";
    std::error_code ec;
    const auto size = fs::file_size(entry.path, ec);
    if (!ec) entry.size_bytes = size;
    const gguf::File file = gguf::File::open(entry.path);
    entry.size_bytes = file.file_size();
    entry.architecture = file.get_string("general.architecture").value_or("");
    entry.has_chat_template = file.find("tokenizer.chat_template") != nullptr;
    // The type of most weight bytes says more than general.file_type, which is absent from
    // many converters' output and names mixtures ("Q4_K_M") only by convention.
    uint64_t n_params = 0;
    std::map<DType, uint64_t> bytes_by_type;
    for (const auto& t : file.tensors()) {
        n_params += t.n_elements();
        if (t.shape.size() >= 2) bytes_by_type[t.type] += t.n_bytes;
    }
    entry.n_params = n_params;
    const auto dominant =
        std::max_element(bytes_by_type.begin(), bytes_by_type.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; });
    if (dominant != bytes_by_type.end()) entry.type = std::string(dtype_name(dominant->first));
}

nlohmann::json read_json_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), ": cannot open");
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        fail(path.string(), ": ", e.what());
    }
}

void describe_hf(ModelEntry& entry) {
    entry.format = "hf";
    std::error_code ec;
    for (const auto& f : fs::recursive_directory_iterator(entry.path, ec)) {
        std::error_code size_ec;
        if (f.is_regular_file(size_ec)) {
            const auto size = f.file_size(size_ec);
            if (!size_ec) entry.size_bytes += size;
        }
    }
    const nlohmann::json config = read_json_file(entry.path / "config.json");
    if (config.is_object()) {
        if (config.contains("model_type") && config["model_type"].is_string())
            entry.architecture = config["model_type"].get<std::string>();
        if (config.contains("torch_dtype") && config["torch_dtype"].is_string())
            entry.type = config["torch_dtype"].get<std::string>();
    }
    const fs::path tokenizer_config = entry.path / "tokenizer_config.json";
    if (fs::is_regular_file(tokenizer_config, ec)) {
        const nlohmann::json tc = read_json_file(tokenizer_config);
        entry.has_chat_template = tc.is_object() && tc.contains("chat_template");
    }
}

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = up;
        }
    }
    return row[b.size()];
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

}  // namespace

ModelEntry describe_model(const fs::path& path) {
    ModelEntry entry;
    entry.path = path;
    std::string file = path.filename().string();
    if (file.ends_with(kGgufSuffix) && file.size() > kGgufSuffix.size())
        file.resize(file.size() - kGgufSuffix.size());
    entry.name = file;
    try {
        if (is_hf_folder(path)) {
            describe_hf(entry);
        } else {
            describe_gguf(entry);
        }
    } catch (const std::exception& e) {
        // Anything a bad file can cause (format errors, I/O, allocation) ends up here.
        entry.error = e.what();
    }
    return entry;
}

std::vector<std::string> close_names(std::string_view name,
                                     const std::vector<std::string>& candidates) {
    const std::string wanted = lower(name);
    std::vector<std::pair<size_t, std::string>> scored;
    for (const auto& c : candidates) {
        const std::string other = lower(c);
        size_t score;
        if (other == wanted) {
            score = 0;
        } else if (!wanted.empty() && (other.find(wanted) != std::string::npos ||
                                       wanted.find(other) != std::string::npos)) {
            score = 1;
        } else {
            // Typos: allow about one edit in three characters.
            const size_t d = edit_distance(wanted, other);
            if (d > std::max<size_t>(2, wanted.size() / 3)) continue;
            score = 1 + d;
        }
        scored.emplace_back(score, c);
    }
    std::stable_sort(scored.begin(), scored.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::string> out;
    for (auto& [score, c] : scored) out.push_back(std::move(c));
    return out;
}

ModelDirectory::ModelDirectory(fs::path dir) : dir_(std::move(dir)) {}

std::optional<fs::path> ModelDirectory::resolve(std::string_view name_or_path) const {
    if (name_or_path.empty()) return std::nullopt;
    std::error_code ec;
    const fs::path as_given{std::string(name_or_path)};
    if (fs::exists(as_given, ec)) return as_given;
    if (dir_.empty()) return std::nullopt;
    const fs::path in_dir = dir_ / as_given;
    if (fs::exists(in_dir, ec)) return in_dir;
    fs::path with_suffix = in_dir;
    with_suffix += kGgufSuffix;
    if (fs::exists(with_suffix, ec)) return with_suffix;
    return std::nullopt;
}

fs::path ModelDirectory::require(std::string_view name_or_path) const {
    if (auto found = resolve(name_or_path)) return *found;
    std::error_code ec;
    if (dir_.empty() || !fs::is_directory(dir_, ec)) {
        fail("model '", name_or_path, "' is not a file, and there is no models folder ",
             dir_.string(), " to look it up in");
    }
    const std::vector<std::string> all = names();
    std::string message =
        cat("model '", name_or_path, "' is neither a file nor a model in ", dir_.string());
    const std::vector<std::string> close = close_names(name_or_path, all);
    const std::vector<std::string>& shown = close.empty() ? all : close;
    if (shown.empty()) {
        message += " (the folder has no models)";
    } else {
        message += close.empty() ? "; models there: " : "; did you mean: ";
        const size_t n = std::min<size_t>(shown.size(), 8);
        for (size_t i = 0; i < n; ++i) message += cat(i ? ", " : "", shown[i]);
        if (n < shown.size()) message += cat(", ... (", shown.size() - n, " more)");
    }
    fail(message);
}

std::vector<std::string> ModelDirectory::names() const {
    std::vector<std::string> out;
    std::error_code ec;
    if (!fs::is_directory(dir_, ec)) return out;
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
        if (auto name = model_name(entry)) out.push_back(std::move(*name));
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<ModelEntry> ModelDirectory::list() const {
    std::vector<ModelEntry> out;
    std::error_code ec;
    if (!fs::is_directory(dir_, ec)) return out;
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
        auto name = model_name(entry);
        if (!name) continue;
        ModelEntry described = describe_model(entry.path());
        described.name = std::move(*name);
        out.push_back(std::move(described));
    }
    std::sort(out.begin(), out.end(),
              [](const ModelEntry& a, const ModelEntry& b) { return a.name < b.name; });
    return out;
}

}  // namespace pocket::model
