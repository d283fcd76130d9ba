// Holding back generated text until it is certain not to be part of a stop string. Text arrives
// in pieces (a stop string may span several tokens); what can no longer start a stop string is
// released, a complete match ends the output there.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pocket {

class StopStrings {
  public:
    explicit StopStrings(std::vector<std::string> stops);

    // Adds text. Returns what may be emitted now; after a match, matched() is true and the
    // returned text ends right before the stop string.
    std::string feed(std::string_view text);
    // What is still held back (no match can complete any more: the output ended).
    std::string flush();

    bool matched() const { return matched_ >= 0; }
    const std::string& matched_string() const;

  private:
    std::vector<std::string> stops_;
    std::string pending_;
    int matched_ = -1;
};

}  // namespace pocket
