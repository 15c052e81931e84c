@_exported import PGOutput
@_exported import PGReplicationCore
