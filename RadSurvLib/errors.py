"""Exceptions that RadSurv raises for bad input.

Every message names the input, says what is wrong and how to fix it. The command line prints
the message alone (no traceback) and exits with status 2.
"""


class RadSurvError(Exception):
    """Base class of every error that RadSurv reports to the user."""


class InputError(RadSurvError):
    """A CT, GTV mask, manifest or option is missing, unreadable or inconsistent."""


class BundleError(RadSurvError):
    """A model bundle is missing, malformed, or fails its checksum."""
