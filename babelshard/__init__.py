"""babelshard: multilingual vision-language pretraining data with Apache Beam, and a trainer for it."""

__version__ = "0.1.0"
