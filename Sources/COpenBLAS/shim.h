// Debian's libopenblas-dev installs cblas.h through the alternatives system; include the
// pthread variant's header directly so the build does not depend on which BLAS is selected.
#if __has_include(<x86_64-linux-gnu/openblas-pthread/cblas.h>)
#include <x86_64-linux-gnu/openblas-pthread/cblas.h>
#else
#include <cblas.h>
#endif
