"""The case processor's state on disk and in its changelog: restore, ordered writes, the clean-stop marker."""
