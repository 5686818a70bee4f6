"""What crosses the wire, with no Faust and no Kafka client but what a caller brings.

Event schemas, the Avro codec, topic names and partitioning, JSON lines, the case state format (`state`), and the
broker reachability probe.
"""
