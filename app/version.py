"""The release number, written once: setup.cfg reads it from here for the package's metadata."""

VERSION = "0.1.0"
