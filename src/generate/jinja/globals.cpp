// Global functions: range, dict, namespace (Jinja2), raise_exception and strftime_now
// (transformers).
#include <array>

#include "generate/jinja/builtins_util.h"

namespace pocket::jinja {
namespace {

// The sandbox's MAX_RANGE.
constexpr int64_t kMaxRange = 100000;

Value range(Interpreter&, Args& a) {
    int64_t start = 0, stop, step = 1;
    if (a.positional.size() == 1) {
        stop = int_arg(a.positional[0], "range");
    } else if (a.positional.size() == 2 || a.positional.size() == 3) {
        start = int_arg(a.positional[0], "range");
        stop = int_arg(a.positional[1], "range");
        if (a.positional.size() == 3) step = int_arg(a.positional[2], "range");
    } else {
        type_error(cat("range expected at most 3 arguments, got ", a.positional.size()));
    }
    if (step == 0) fault("ValueError", "range() arg 3 must not be zero");
    std::vector<Value> items;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (static_cast<int64_t>(items.size()) >= kMaxRange)
            fault("OverflowError",
                  "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
        items.emplace_back(i);
    }
    return Value::make_list(std::move(items));
}

Value strftime_now(Interpreter& in, Args& a) {
    const std::string& fmt = text_arg(arg(a, 0, "format"), "strftime() argument 1").bytes;
    const std::tm now = in.clock()();
    if (fmt.empty()) return Value(Text());
    std::array<char, 1024> buf{};
    const size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &now);
    if (n == 0) fault("ValueError", "strftime format too long or invalid");
    return Value(Text(std::string(buf.data(), n)));
}

}  // namespace

void add_globals(std::unordered_map<std::string, Value>& g) {
    g["range"] = Value::function("range", range);
    g["dict"] = Value::function("dict", [](Interpreter&, Args& a) {
        Value d = Value::make_dict();
        for (const Value& p : a.positional)
            if (p.is_dict())
                for (const auto& [k, v] : p.dict().items) d.dict().set(k, v);
        for (auto& [k, v] : a.keyword) d.dict().set(Value(Text(k)), v);
        return d;
    });
    g["namespace"] = Value::function("namespace", [](Interpreter& in, Args& a) {
        Value ns = in.make_namespace();
        for (const Value& p : a.positional)
            if (p.is_dict())
                for (const auto& [k, v] : p.dict().items) ns.ns().attrs.set(k, v);
        for (auto& [k, v] : a.keyword) ns.ns().attrs.set(Value(Text(k)), v);
        return ns;
    });
    g["raise_exception"] = Value::function("raise_exception", [](Interpreter&, Args& a) -> Value {
        fault("TemplateError", to_text(arg(a, 0, "message")).bytes);
    });
    g["strftime_now"] = Value::function("strftime_now", strftime_now);
}

}  // namespace pocket::jinja
