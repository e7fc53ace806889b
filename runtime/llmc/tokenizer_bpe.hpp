// Part of llmc/tokenizer.hpp (include that one).
#pragma once
