"""The exceptions spendtap raises on purpose.

    SpendtapError
    ├── ConfigError        bad flag, option or config file: the message says the fix
    ├── InputError         a file or payload we were asked to read is malformed
    ├── SpoolError         the local spool cannot be written or read
    └── EngineError        the engine refused or could not be reached

Parsers never raise into the proxy: a parser fault is caught at the capture boundary,
logged and counted as a dropped call.
"""


class SpendtapError(Exception):
    """Base of every error spendtap raises deliberately."""


class ConfigError(SpendtapError):
    """A flag, option or config value is wrong; the message names the fix."""


class InputError(SpendtapError):
    """A file or payload we were asked to read is malformed."""


class SpoolError(SpendtapError):
    """The local spool could not be written or read."""


class EngineError(SpendtapError):
    """The engine refused a request or could not be reached."""
