"""Reading photos and writing files: EXIF and exiftool, decoding, guarded and atomic file
access, memory tuning and read-ahead threads. Imports only the core."""
