// JSON Schema to GBNF, so a model can be held to a schema by a GrammarConstraint.
//
// Supported: type (string, number, integer, boolean, null, object, array, and lists of them),
// properties / required / additionalProperties (properties come in schema order; optional ones
// may be left out), items / prefixItems / minItems / maxItems, enum, const, minLength /
// maxLength, integer minimum / maximum / exclusiveMinimum / exclusiveMaximum, anyOf / oneOf,
// allOf of object schemas, $ref to "#/$defs/..." and "#/definitions/..." (recursion allowed),
// format date / time / date-time / uuid. Annotations (title, description, examples, default,
// $schema, $id, $comment, ...) are ignored. Anything else, e.g. pattern, is a pocket::Error
// naming the keyword and where it is.
//
// The documents are compact JSON with bounded optional whitespace between tokens (at most one
// space, or a newline and up to 8 spaces or tabs), so a model cannot stall on whitespace; numbers
// have at most 16 digits. oneOf is treated like anyOf (a value matching two branches is
// produced if the branches overlap), and with additionalProperties an extra key is not checked
// against the declared names. minLength / minItems above Grammar::kMaxRepeat (100,000) are
// refused; a maxLength / maxItems above it bounds nothing (no generation is that long).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace pocket {

// The GBNF text (root rule "root") for documents valid under `schema`.
std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema);

// The GBNF text of Grammar::json(): any JSON object.
std::string json_object_gbnf();

// `text` as a GBNF string literal (quoted; quotes, backslashes and control bytes escaped).
std::string gbnf_literal(std::string_view text);

}  // namespace pocket
