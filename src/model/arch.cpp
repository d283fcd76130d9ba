#include "pocket/model/arch.h"

#include <array>

namespace pocket::model {
namespace {

constexpr std::array kArchs = {
    ArchSpec{.name = "llama"},
};

}  // namespace

const ArchSpec* find_arch(std::string_view name) {
    for (const auto& arch : kArchs) {
        if (arch.name == name) return &arch;
    }
    return nullptr;
}

std::span<const ArchSpec> known_archs() { return kArchs; }

}  // namespace pocket::model
