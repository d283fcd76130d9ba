// `pocket info MODEL [--tensors] [--json]`: what is in a GGUF file, without running it.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/model_path.h"
#include "pocket/gguf/gguf.h"
#include "pocket/model/arch.h"
#include "pocket/model/hparams.h"

namespace pocket::cli {
namespace {

struct InfoOptions {
    std::string model;
    bool tensors = false;
    bool json = false;
    bool full_values = false;
};

std::string value_summary(const gguf::Value& v, size_t max_chars) {
    using gguf::ValueType;
    switch (v.type()) {
        case ValueType::STRING:
            return quoted(v.as_string(), max_chars);
        case ValueType::ARRAY: {
            const auto& a = v.as_array();
            std::string s =
                cat("[", gguf::value_type_name(a.element_type), " x ", a.items.size(), "]");
            const size_t shown = std::min<size_t>(a.items.size(), 6);
            for (size_t i = 0; i < shown; ++i)
                s += cat(i ? ", " : " ", value_summary(a.items[i], 24));
            if (shown < a.items.size()) s += ", ...";
            return s;
        }
        case ValueType::BOOL:
            return v.as_bool() ? "true" : "false";
        case ValueType::FLOAT32:
        case ValueType::FLOAT64:
            return cat(v.as_double());
        default:
            return v.type() == ValueType::INT64 || v.type() == ValueType::INT32 ||
                           v.type() == ValueType::INT16 || v.type() == ValueType::INT8
                       ? cat(v.as_int())
                       : cat(v.as_uint());
    }
}

nlohmann::json value_json(const gguf::Value& v) {
    using gguf::ValueType;
    switch (v.type()) {
        case ValueType::STRING:
            return lossy_utf8(v.as_string());
        case ValueType::ARRAY: {
            nlohmann::json arr = nlohmann::json::array();
            for (const auto& item : v.as_array().items) arr.push_back(value_json(item));
            return arr;
        }
        case ValueType::BOOL:
            return v.as_bool();
        case ValueType::FLOAT32:
        case ValueType::FLOAT64:
            return v.as_double();
        case ValueType::INT8:
        case ValueType::INT16:
        case ValueType::INT32:
        case ValueType::INT64:
            return v.as_int();
        default:
            return v.as_uint();
    }
}

std::string shape_string(const std::vector<uint64_t>& shape) {
    std::string s;
    for (size_t i = 0; i < shape.size(); ++i) s += cat(i ? " x " : "", shape[i]);
    return s;
}

int run_info(const InfoOptions& opt) {
    const gguf::File file = gguf::File::open(resolve_model_arg(opt.model));
    uint64_t n_params = 0;
    std::map<std::string, size_t> type_counts;
    for (const auto& t : file.tensors()) {
        n_params += t.n_elements();
        ++type_counts[std::string(dtype_name(t.type))];
    }
    const auto arch_name = file.get_string("general.architecture").value_or("");
    const model::ArchSpec* arch = model::find_arch(arch_name);
    std::optional<model::HParams> hp;
    std::string hp_error;
    if (arch) {
        try {
            hp = model::read_hparams(file, *arch);
        } catch (const Error& e) {
            hp_error = e.what();
        }
    }

    if (opt.json) {
        nlohmann::json j;
        j["file"] = opt.model;
        j["file_size"] = file.file_size();
        j["gguf_version"] = file.version();
        j["alignment"] = file.alignment();
        j["data_offset"] = file.data_offset();
        j["architecture"] = arch_name;
        j["architecture_supported"] = arch != nullptr;
        j["n_params"] = n_params;
        j["tensor_types"] = type_counts;
        if (hp) {
            j["hparams"] = {{"n_vocab", hp->n_vocab},
                            {"n_ctx_train", hp->n_ctx_train},
                            {"n_embd", hp->n_embd},
                            {"n_layer", hp->n_layer},
                            {"n_ff", hp->n_ff},
                            {"n_head", hp->n_head},
                            {"n_head_kv", hp->n_head_kv},
                            {"head_dim", hp->head_dim},
                            {"n_rot", hp->n_rot},
                            {"norm_eps", hp->norm_eps},
                            {"rope_freq_base", hp->rope_freq_base}};
        }
        nlohmann::json kv = nlohmann::json::array();
        for (const auto& [key, value] : file.metadata()) {
            kv.push_back({{"key", lossy_utf8(key)},
                          {"type", gguf::value_type_name(value.type())},
                          {"value", value_json(value)}});
        }
        j["metadata"] = kv;
        if (opt.tensors) {
            nlohmann::json ts = nlohmann::json::array();
            for (const auto& t : file.tensors()) {
                ts.push_back({{"name", lossy_utf8(t.name)},
                              {"type", dtype_name(t.type)},
                              {"shape", t.shape},
                              {"n_bytes", t.n_bytes},
                              {"offset", t.offset}});
            }
            j["tensors"] = ts;
        }
        std::printf("%s\n", j.dump(2).c_str());
        return kExitOk;
    }

    std::printf("file:          %s (%s)\n", opt.model.c_str(),
                human_bytes(file.file_size()).c_str());
    std::printf(
        "gguf:          version %u, alignment %llu, %zu metadata keys, %zu tensors, data at %llu\n",
        file.version(), static_cast<unsigned long long>(file.alignment()), file.metadata().size(),
        file.tensors().size(), static_cast<unsigned long long>(file.data_offset()));
    std::printf("architecture:  %s%s\n", arch_name.empty() ? "(none)" : arch_name.c_str(),
                arch ? "" : " (not supported for inference)");
    if (auto name = file.get_string("general.name"))
        std::printf("name:          %s\n", quoted(*name, 80).c_str());
    std::printf("parameters:    %s\n", human_count(n_params).c_str());
    std::string types;
    for (const auto& [name, count] : type_counts)
        types += cat(types.empty() ? "" : ", ", name, " x", count);
    std::printf("tensor types:  %s\n", types.c_str());
    if (hp) {
        std::printf(
            "hparams:       n_vocab %lld, n_ctx_train %lld, n_embd %lld, n_layer %lld, n_ff %lld,\n"
            "               n_head %lld, n_head_kv %lld, head_dim %lld, n_rot %lld, eps %g, rope "
            "base %g\n",
            (long long)hp->n_vocab, (long long)hp->n_ctx_train, (long long)hp->n_embd,
            (long long)hp->n_layer, (long long)hp->n_ff, (long long)hp->n_head,
            (long long)hp->n_head_kv, (long long)hp->head_dim, (long long)hp->n_rot, hp->norm_eps,
            hp->rope_freq_base);
    } else if (!hp_error.empty()) {
        std::printf("hparams:       invalid: %s\n", hp_error.c_str());
    }
    std::printf("metadata:\n");
    for (const auto& [key, value] : file.metadata()) {
        std::printf("  %-44s %s\n", printable(key, 200).c_str(),
                    value_summary(value, opt.full_values ? SIZE_MAX : 100).c_str());
    }
    if (opt.tensors) {
        std::printf("tensors:\n  %-36s %-8s %-22s %12s %14s\n", "name", "type", "shape", "bytes",
                    "offset");
        for (const auto& t : file.tensors()) {
            std::printf("  %-36s %-8s %-22s %12llu %14llu\n", printable(t.name, 200).c_str(),
                        std::string(dtype_name(t.type)).c_str(), shape_string(t.shape).c_str(),
                        static_cast<unsigned long long>(t.n_bytes),
                        static_cast<unsigned long long>(t.offset));
        }
    }
    return kExitOk;
}

}  // namespace

Runner register_info(CLI::App& app) {
    auto opt = std::make_shared<InfoOptions>();
    app.add_option("model", opt->model, "GGUF file, or a model name in the models folder")
        ->required();
    app.add_flag("--tensors", opt->tensors, "List every tensor (name, type, shape, bytes, offset)");
    app.add_flag("--json", opt->json, "Print one JSON object instead of text");
    app.add_flag("--full", opt->full_values, "Do not shorten long string values");
    return [opt] { return run_info(*opt); };
}

}  // namespace pocket::cli
