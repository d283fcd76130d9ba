// Reading generation streams while writing an HTTP response: waits for output, writes it, keeps
// an idle connection alive, and cancels the generations as soon as the client is gone, so its
// slot goes to the next request at once. Internal to src/server.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <httplib.h>

#include "pocket/serve/batch_scheduler.h"

namespace pocket::server {

class StreamPump {
  public:
    using Stream = std::shared_ptr<serve::GenerationStream>;
    // (index of the stream, what it produced) -> bytes to write; empty writes nothing.
    using OnEvent = std::function<std::string(size_t, serve::StreamEvent&)>;
    // (index of the stream) -> bytes to write when it ends (its result() holds the outcome, or
    // rethrows what failed it).
    using OnEnd = std::function<std::string(size_t)>;

    StreamPump(httplib::DataSink& sink, std::vector<Stream> streams)
        : sink_(sink), streams_(std::move(streams)) {}

    bool write(const std::string& bytes);
    // Runs until every stream ended (true) or the client went away (false: all cancelled, and
    // on_end still called for each once it stopped).
    // `keepalive` bytes are written after each quiet interval, to find out whether the client is
    // still there while a long prompt is read.
    bool run(const OnEvent& on_event, const OnEnd& on_end, const std::string& keepalive);
    void cancel_all();

  private:
    // The client went away: waits for the cancelled streams to stop and passes each that had not
    // ended to on_end, so what they generated is still counted. Returns false.
    bool abandon(const std::vector<bool>& ended, const OnEnd& on_end);

    httplib::DataSink& sink_;
    std::vector<Stream> streams_;
};

// Cancels the streams when the response ends before they do (a client that disconnected, a
// write timeout): give it to the content provider's releaser.
struct CancelOnRelease {
    std::vector<std::shared_ptr<serve::GenerationStream>> streams;
    void operator()(bool) const {
        for (const auto& s : streams) s->cancel();
    }
};

}  // namespace pocket::server
