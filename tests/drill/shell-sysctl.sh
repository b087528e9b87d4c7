#!/bin/sh
# Read by tests/drill/shell-sysctl.pkt (never run): the settings it makes.
sysctl -q net.ipv4.tcp_synack_retries=2
sysctl -q net.ipv4.tcp_window_scaling=0
