"""The live worker: the Faust app and what it runs.

`app` wires it; `step` is the case processor's step, free of Faust; `gate` the CLETS gate; `scheduling` the
event-time merge of the case topics; `stalls` the watchdog; `metrics` the Prometheus series; `state/` the case
table's restore, ordered writes and clean-stop marker. Every private Faust or aiokafka name the worker relies on is
touched in `faust_compat` alone.
"""
