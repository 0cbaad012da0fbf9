/* Compile-only check: the whole implementation as C99 or C++. */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
int bc_compile_check_dummy(void);
int bc_compile_check_dummy(void) { return (int)bc_result_string(BC_OK)[0]; }
