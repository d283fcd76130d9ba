// Whole checkpoints: a single .safetensors file or the shards listed by an index file.
#include <set>

#include <nlohmann/json.hpp>

#include "pocket/core/read_file.h"
#include "pocket/safetensors/safetensors.h"

namespace pocket::safetensors {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kIndexName = "model.safetensors.index.json";
constexpr std::string_view kSingleName = "model.safetensors";

nlohmann::json read_index(const fs::path& path) {
    const std::string text = read_file(path);
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        fail(path.string(), ": invalid JSON in the checkpoint index: ", e.what());
    }
}

// Shard names come from a file we do not trust: they must stay inside the index's folder.
void check_shard_name(const fs::path& index, const std::string& shard) {
    const fs::path p(shard);
    bool escapes = shard.empty() || p.is_absolute() || p.has_root_name();
    for (const auto& part : p) escapes = escapes || part == "..";
    if (escapes) fail(index.string(), ": weight_map names shard '", shard, "' outside its folder");
}

}  // namespace

Checkpoint Checkpoint::open(const fs::path& path) {
    fs::path target = path;
    if (fs::is_directory(path)) {
        if (fs::exists(path / kIndexName)) {
            target = path / kIndexName;
        } else if (fs::exists(path / kSingleName)) {
            target = path / kSingleName;
        } else {
            fail(path.string(), ": folder holds neither ", kIndexName, " nor ", kSingleName);
        }
    }

    Checkpoint checkpoint;
    auto add_file = [&](File file) {
        const size_t file_index = checkpoint.files_.size();
        for (size_t i = 0; i < file.tensors().size(); ++i) {
            const auto& name = file.tensors()[i].name;
            if (auto it = checkpoint.index_.find(name); it != checkpoint.index_.end()) {
                fail("tensor '", name,
                     "' is in two shards: ", checkpoint.files_[it->second.first].name(), " and ",
                     file.name());
            }
            checkpoint.index_.emplace(name, std::pair{file_index, i});
        }
        checkpoint.files_.push_back(std::move(file));
    };

    if (target.extension() != ".json") {
        add_file(File::open(target));
        return checkpoint;
    }

    const nlohmann::json index = read_index(target);
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
        fail(target.string(), ": the checkpoint index has no \"weight_map\" object");
    }
    const auto& weight_map = index["weight_map"];
    std::set<std::string> shards;
    for (const auto& [tensor, shard] : weight_map.items()) {
        if (!shard.is_string()) {
            fail(target.string(), ": weight_map entry '", tensor, "' is not a file name");
        }
        check_shard_name(target, shard.get<std::string>());
        shards.insert(shard.get<std::string>());
    }
    for (const auto& shard : shards) add_file(File::open(target.parent_path() / shard));
    for (const auto& [tensor, shard] : weight_map.items()) {
        const auto found = checkpoint.find(tensor);
        if (!found || fs::path(found->file->name()).filename() !=
                          fs::path(shard.get<std::string>()).filename()) {
            fail(target.string(), ": weight_map puts tensor '", tensor, "' in ",
                 shard.get<std::string>(), " but that shard does not hold it");
        }
    }
    return checkpoint;
}

std::optional<Checkpoint::Tensor> Checkpoint::find(std::string_view name) const {
    const auto it = index_.find(name);
    if (it == index_.end()) return std::nullopt;
    const File& file = files_[it->second.first];
    return Tensor{&file.tensors()[it->second.second], &file};
}

Checkpoint::Tensor Checkpoint::at(std::string_view name) const {
    if (auto t = find(name)) return *t;
    fail("checkpoint", files_.empty() ? std::string() : cat(" ", files_.front().name()),
         ": no tensor '", name, "'");
}

std::vector<std::string> Checkpoint::names() const {
    std::vector<std::string> out;
    for (const auto& [name, _] : index_) out.push_back(name);
    return out;
}

const std::map<std::string, std::string>& Checkpoint::metadata() const {
    static const std::map<std::string, std::string> empty;
    return files_.empty() ? empty : files_.front().metadata();
}

}  // namespace pocket::safetensors
