#include "../common/doctest_main.hpp"
