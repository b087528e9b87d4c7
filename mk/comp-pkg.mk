# Packaging and process: version, install, man pages, systemd unit, Debian package (issue 12).
TESTS += tests/pkg/test_version.py
