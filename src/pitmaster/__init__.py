"""pitmaster: a job queue that runs every job in its own Docker container."""

__version__ = "0.1.0"
