"""detainer-tracker: jail bookings, fingerprint matches and immigration detainers on Kafka.

Importing this package connects to nothing.
"""

__version__ = "0.1.0"
