#!/bin/sh
# The demo workspace's test command (the profile names it `test`).
. ./tests/calc_test.sh
if [ "$failures" -eq 0 ]; then echo "all tests passed"; exit 0; else echo "$failures test(s) failed"; exit 1; fi
