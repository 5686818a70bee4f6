"""The worker's agents: the case processor, the CLETS gate and the ticker; `app` wires them."""
