"""The few exceptions hotwatch raises; the CLI turns them into one line each."""


class HotwatchError(Exception):
    """Base class of hotwatch's own errors."""


class UnsupportedFile(HotwatchError):
    """Not a photo hotwatch can use: the file is skipped (catalogue status 'skipped')."""


class UnreadableFile(HotwatchError):
    """Looked like a photo but could not be read: truncated, corrupt (status 'failed')."""


class DamagedState(HotwatchError):
    """A persisted accumulator or catalogue failed its checks; it is set aside, never reused."""


class UserError(HotwatchError):
    """Something the user asked for cannot be done: print the message, exit 1."""
