// Pieces of the Prometheus text exposition format 0.0.4: value formatting and escaping.
#pragma once

#include <string>
#include <string_view>

namespace nova::serve::metrics {

// Sample values: "NaN", "+Inf", "-Inf"; integral values below 2^53 as plain integers ("3",
// "-2"); everything else in the shortest form that parses back to the same double ("0.25",
// "1e-05").
std::string format_value(double v);
// Label values: backslash, double quote and line feed become \\, \" and \n.
std::string escape_label_value(std::string_view v);
// HELP text: backslash and line feed become \\ and \n.
std::string escape_help(std::string_view v);

bool valid_metric_name(std::string_view name);  // [a-zA-Z_:][a-zA-Z0-9_:]*
bool valid_label_name(std::string_view name);   // [a-zA-Z_][a-zA-Z0-9_]*, not "__"-prefixed

}  // namespace nova::serve::metrics
