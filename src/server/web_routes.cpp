// The web chat page at /: static files from the binary, with a strict Content-Security-Policy
// (the page has no inline script or style and talks only to this server).
#include "server/server_context.h"
#include "server/web_assets.h"

namespace pocket::server {
namespace {

std::string_view content_type(std::string_view path) {
    if (path.ends_with(".html")) return "text/html; charset=utf-8";
    if (path.ends_with(".js")) return "text/javascript; charset=utf-8";
    if (path.ends_with(".css")) return "text/css; charset=utf-8";
    if (path.ends_with(".svg")) return "image/svg+xml";
    return "application/octet-stream";
}

constexpr const char* kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace

void add_web_routes(httplib::Server& http, ServerContext&) {
    for (const WebAsset& asset : web_assets()) {
        const auto serve = [asset](const httplib::Request&, httplib::Response& res) {
            res.set_header("Content-Security-Policy", kCsp);
            res.set_header("Cache-Control", "no-cache");
            res.set_content(asset.body.data(), asset.body.size(),
                            std::string(content_type(asset.path)).c_str());
        };
        http.Get(std::string(asset.path), serve);
        if (asset.path == "/index.html") http.Get("/", serve);
    }
}

}  // namespace pocket::server
