"""Where the CLI finds the application factory until it calls ``pitmaster.server`` itself."""

from pitmaster.server.app import create_app

__all__ = ["create_app"]
