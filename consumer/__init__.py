"""converge-pinterest: Converge events from Kafka to Pinterest's Conversions API."""

__version__ = "0.1.0"
