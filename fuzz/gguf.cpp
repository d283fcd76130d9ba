// Fuzz target: a GGUF file from memory, then everything loading it as a model checks: the
// metadata getters, each tensor's data range, the architecture and hyper-parameters, the weight
// shapes and types (bind_weights), the tokenizer built from the vocabulary metadata, the
// interleaved re-layout of Q4_0/Q8_0 weights, and the model's chat template rendered once.
// Every malformed file must end in pocket::Error; anything else (a crash, a sanitizer report,
// another exception) is a bug.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "pocket/generate/chat_template.h"
#include "pocket/gguf/gguf.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"

namespace {

// Reads every metadata value through the typed getters, as loaders do.
void walk_metadata(const pocket::gguf::File& file) {
    for (const auto& kv : file.metadata()) {
        const pocket::gguf::Value& v = kv.value;
        try {
            if (v.is_integer()) (void)v.as_int();
            if (v.is_number()) (void)v.as_double();
            if (v.type() == pocket::gguf::ValueType::STRING) (void)file.get_string(kv.key);
            if (v.type() == pocket::gguf::ValueType::ARRAY)
                (void)file.get_array(kv.key)->items.size();
        } catch (const pocket::Error&) {
            // e.g. a UINT64 that does not fit int64: a clear error is the right answer.
        }
    }
}

void use_model(const pocket::model::Model& model) {
    const auto& tok = model.tokenizer();
    const auto ids = tok.encode("Hello world <s> \xE2\x96\x81 12345", true, true);
    (void)tok.decode(ids, false, true);
    try {
        const pocket::ModelChatTemplate t = pocket::chat_template_for(model);
        pocket::ChatTemplateInputs in = t.inputs();
        in.messages = {{{"role", "user"}, {"content", "hi"}}};
        (void)t.tmpl.render(in);
    } catch (const pocket::TemplateError&) {
        // A template from the file that does not parse or render is the file's problem.
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        pocket::gguf::File file =
            pocket::gguf::File::parse(pocket::fuzz::as_bytes(data, size), "fuzz.gguf");
        walk_metadata(file);
        uint64_t sum = 0;
        for (const auto& t : file.tensors()) {
            const auto bytes = file.tensor_data(t);
            if (bytes.size() != t.n_bytes) __builtin_trap();
            if (!bytes.empty())
                sum += static_cast<uint8_t>(bytes.front()) + static_cast<uint8_t>(bytes.back());
        }
        (void)sum;
        // The last byte picks the layout, so both load paths are fuzzed.
        pocket::model::LoadOptions options;
        options.interleave = size > 0 && (data[size - 1] & 1) != 0;
        const auto model = pocket::model::Model::from_file(std::move(file), options);
        use_model(*model);
    } catch (const pocket::Error&) {
    }
    return 0;
}
