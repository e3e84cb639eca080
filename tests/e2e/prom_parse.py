#!/usr/bin/python3
"""Parses a Prometheus text exposition with prometheus_client's own parser (Debian's
python3-prometheus-client) and prints every sample as JSON: [[name, labels, value], ...].
A malformed exposition makes the parser raise, and this script exit non-zero.

usage: /usr/bin/python3 prom_parse.py < metrics.txt
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        samples.append([s.name, s.labels, s.value])
print(json.dumps(samples))
