// Fuzz target: JSON Schema to grammar. The input is a JSON document (inputs that are not JSON
// are skipped: the JSON parser is nlohmann's, not ours). Unsupported or contradictory schemas
// must end in pocket::Error; a schema that converts must give GBNF that parses (only a
// left-recursive $ref cycle may be refused there), prints back to GBNF that parses again, and
// whose matcher runs on a few documents.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "pocket/generate/grammar.h"
#include "pocket/generate/json_schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto schema = nlohmann::ordered_json::parse(pocket::fuzz::as_text(data, size), nullptr,
                                                      /*allow_exceptions=*/false);
    if (schema.is_discarded()) return 0;
    std::string gbnf;
    try {
        gbnf = pocket::json_schema_to_gbnf(schema);
    } catch (const pocket::Error&) {
        return 0;
    }
    pocket::Grammar grammar;
    try {
        grammar = pocket::Grammar::parse_gbnf(gbnf);
    } catch (const pocket::Error& e) {
        const std::string_view what = e.what();
        if (what.find("left-recursive") == std::string_view::npos)
            pocket::fuzz::invariant_failed("schema converted to GBNF that does not parse:", what);
        return 0;
    }
    try {
        (void)pocket::Grammar::parse_gbnf(grammar.to_gbnf());
    } catch (const pocket::Error& e) {
        pocket::fuzz::invariant_failed("to_gbnf() of a schema grammar does not parse:", e.what());
    }
    for (const char* doc : {"{}", "[]", "\"x\"", "0", "null", "{\"a\": [1, \"b\", true]}"}) try {
            (void)pocket::grammar_matches(grammar, doc);
        } catch (const pocket::Error&) {
            // Too ambiguous to match: a clear refusal.
        }
    return 0;
}
