// POCKET_TEST_ISA=scalar|avx2|avx512|neon runs a whole test binary on that kernel table, so the
// model tests (reference logits, greedy continuations) are checked on every dispatch path, not
// only on the best one (see tests/CMakeLists.txt). Unlike POCKET_ISA, which fails on a CPU that
// lacks the instruction set, this falls back to the default table with a note: the same CTest
// entries then run anywhere.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "kernels/kernels.h"

namespace pocket::test {
namespace {

class IsaEnvironment : public ::testing::Environment {
  public:
    void SetUp() override {
        const char* wanted = std::getenv("POCKET_TEST_ISA");
        if (wanted == nullptr || *wanted == '\0') return;
        for (const kernels::Isa isa : kernels::kAllIsas) {
            if (kernels::isa_name(isa) != std::string_view(wanted)) continue;
            if (kernels::isa_supported(isa)) {
                kernels::force_isa(isa);
                std::printf("POCKET_TEST_ISA: running on the %s kernels\n", wanted);
            } else {
                std::printf("POCKET_TEST_ISA: this CPU lacks %s; running on %s\n", wanted,
                            std::string(kernels::isa_name(kernels::active_isa())).c_str());
            }
            return;
        }
        std::printf("POCKET_TEST_ISA=%s is not an instruction set; running on the default\n",
                    wanted);
    }
};

const auto* const registered = ::testing::AddGlobalTestEnvironment(new IsaEnvironment);

}  // namespace
}  // namespace pocket::test
