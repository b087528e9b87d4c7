# synfin: top-level build.
#
#   make            build everything (normal build in build/)
#   make test       install missing Debian test packages, build, run every test suite
#   make test SAN=1 the same with ASan + UBSan (separate tree: build-san/)
#   make TSAN=1     ThreadSanitizer build (build-tsan/), for the threaded daemon (`threads N`)
#   make bench      engine benchmark on the simulated network
#   make bench-lb / bench-stat / bench-tun   synfin beside HAProxy, nginx, ss, Linux TCP
#   make run        the load balancer on conf/synfin.conf (CONF=path: on that file)
#   make lint       clang-format check and cppcheck
#   make install    programs, man pages, systemd unit, /etc/synfin (PREFIX, DESTDIR)
#   make deb        a Debian package in $(O)/deb (debhelper)
#
# Each component describes itself in mk/comp-*.mk (libraries, binaries, unit tests, suites),
# so adding a component never edits this file.

include mk/rules.mk
include $(sort $(wildcard mk/comp-*.mk))
include mk/targets.mk
