@_exported import PGOutput
