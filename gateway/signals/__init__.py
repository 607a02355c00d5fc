"""Pure decoders, one per consent standard.

Each decoder turns the raw signal (a string, an object, a header) into a typed reading,
or a reading plus the problems it found. None raises on bad input: a value it cannot
read is read as the strictest possibility (denied), and the problem is reported so the
consent stage can record it. The consent stage maps readings onto purposes.
"""
