"""Sans-I/O codecs: bytes to input lines, and events to what each gateway sends."""
