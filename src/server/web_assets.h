// The web chat page's files (src/server/web), compiled into the binary by
// cmake/embed-files.cmake.
#pragma once

#include <string_view>
#include <vector>

namespace pocket::server {

struct WebAsset {
    std::string_view path;  // "/index.html", "/app.js", ...
    std::string_view body;
};

const std::vector<WebAsset>& web_assets();

}  // namespace pocket::server
