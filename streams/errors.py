"""The project's own error hierarchy: every error we raise derives from DetainerTrackerError."""


class DetainerTrackerError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(DetainerTrackerError):
    """A setting is missing or invalid."""


class SchemaError(DetainerTrackerError):
    """An Avro schema under schemas/ is missing, unparsable or inconsistent."""


class CodecError(DetainerTrackerError):
    """An event could not be encoded or decoded."""


class EventValidationError(CodecError):
    """An event does not match its schema (missing field, wrong type, unknown event type)."""


class BrokerError(DetainerTrackerError):
    """The local Kafka broker could not be fetched, formatted, started or stopped."""


class RuleBookError(DetainerTrackerError):
    """The rule book is missing, unparsable or inconsistent."""


class KafkaUnavailable(DetainerTrackerError):
    """Kafka could not be reached or refused a request."""


class DisclosureError(DetainerTrackerError):
    """An output would disclose what the law does not allow on its feed (e.g. more than status on the 1373 feed)."""


class OutputTooLarge(DetainerTrackerError):
    """An output would name more evidence than any output may carry (its booking goes to review instead)."""
