"""Reading and writing files: the only part of the library (with ``workflows``) that touches the file system."""
