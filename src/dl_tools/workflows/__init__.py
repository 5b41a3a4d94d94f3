"""One function per tutorial step: paths + a parameter dataclass in, a small result object out."""
