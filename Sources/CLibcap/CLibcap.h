// The one header of libcap that CBindShim uses (cap_get_proc, cap_get_file, cap_from_name).
// Debian and Ubuntu: apt-get install libcap-dev. SwiftPM says so when pkg-config finds no libcap.
#include <sys/capability.h>
