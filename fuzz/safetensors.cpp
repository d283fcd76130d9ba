// Fuzz target: a .safetensors file from memory: the header length, the JSON header, every
// tensor's dtype, shape and data range (which must tile the data section), the metadata, and a
// read of each tensor's first and last byte. Malformed files must end in pocket::Error.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "pocket/safetensors/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const auto file = pocket::safetensors::File::parse(pocket::fuzz::as_bytes(data, size),
                                                           "fuzz.safetensors");
        uint64_t sum = 0;
        for (const auto& t : file.tensors()) {
            const auto bytes = file.data(t);
            if (bytes.size() != t.n_bytes()) __builtin_trap();
            if (t.n_elements() * pocket::safetensors::dtype_size(t.dtype) != t.n_bytes())
                __builtin_trap();
            if (file.find(t.name) != &t) __builtin_trap();
            (void)pocket::safetensors::to_pocket_dtype(t.dtype);
            if (!bytes.empty())
                sum += static_cast<uint8_t>(bytes.front()) + static_cast<uint8_t>(bytes.back());
        }
        for (const auto& [key, value] : file.metadata()) sum += key.size() + value.size();
        (void)sum;
    } catch (const pocket::Error&) {
    }
    return 0;
}
