// Plain HTTP messages as data: what the sans-I/O protocol code builds and parses. They are the
// transport's own types (src/http/message.hpp, free of Beast), so the protocol layer and the
// transport exchange them without conversion.
#pragma once

#include "http/message.hpp"
