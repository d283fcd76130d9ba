// The redactor's individual detectors and their checksums (internal to src/route; the tests use
// them directly). Each detector appends candidate spans of its kind; Redactor::find resolves the
// overlaps between kinds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/route/redactor.h"

namespace pocket::route::detail {

// Checksums, on the characters as written (separators skipped where noted).
bool luhn_valid(std::string_view digits);         // digits only
bool card_number_valid(std::string_view digits);  // digits only: length, issuer prefix and Luhn
bool iban_valid(std::string_view iban);           // spaces allowed; country length and mod-97
bool us_ssn_valid(std::string_view ssn);          // "AAA-GG-SSSS" or "AAA GG SSSS"
bool uk_nino_valid(std::string_view nino);        // "AB123456C", spaces allowed
bool es_dni_valid(std::string_view id);           // DNI "12345678Z" or NIE "X1234567L", '-' allowed
bool se_personnummer_valid(std::string_view id);  // "YYMMDD-NNNN" / "YYYYMMDD-NNNN" (or '+')
bool ipv6_valid(std::string_view text);
double shannon_entropy(std::string_view token);  // bits per byte

void find_emails(std::string_view text, std::vector<PiiSpan>& out);
void find_url_credentials(std::string_view text, std::vector<PiiSpan>& out);
void find_cards(std::string_view text, std::vector<PiiSpan>& out);
void find_ibans(std::string_view text, std::vector<PiiSpan>& out);
void find_ips(std::string_view text, std::vector<PiiSpan>& out);
void find_phones(std::string_view text, std::vector<PiiSpan>& out);
void find_national_ids(std::string_view text, std::vector<PiiSpan>& out);
void find_known_secrets(std::string_view text, std::vector<PiiSpan>& out);
void find_entropy_secrets(std::string_view text, std::vector<PiiSpan>& out);

// Case folding that keeps every character's UTF-8 length (ASCII, Latin-1, Latin Extended-A,
// Greek, Cyrillic), so offsets into the folded text are offsets into the original.
std::string fold_case(std::string_view text);

// One UTF-8 code point at `i` (advances `i`); an invalid byte decodes as U+FFFD and advances one.
char32_t next_code_point(std::string_view text, size_t& i);
// The code point that ends just before `end` (U+FFFD when invalid; 0 when end == 0).
char32_t previous_code_point(std::string_view text, size_t end);
// Letters and digits of any script, and '_': what a word boundary separates.
bool is_word_code_point(char32_t c);
// Scripts written without spaces between words (CJK, kana), where a term needs no boundary.
bool is_unspaced_script(char32_t c);

}  // namespace pocket::route::detail
