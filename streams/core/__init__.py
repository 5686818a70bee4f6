"""The pure core: events, the law as cited data, the case state machine, the engine for time and the CLETS rules.

Nothing here imports Kafka, Faust, asyncio or Prometheus code, or reads the clock (tests/unit/test_layers.py).
"""
