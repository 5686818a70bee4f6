"""The law, pure: the rule book as dated, cited data and the functions that read it.

Nothing in this package imports Kafka, Faust, asyncio or metrics, or reads the clock; every instant is an
argument. `rulebook.load()` reads and validates law/data/*.yaml; `rulings` answers the legal questions the
case machine asks; `calendar`, `regimes`, `carve_outs` and `detainers` are the pieces they rest on.
"""
